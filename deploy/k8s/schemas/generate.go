//go:build ignore

// generate writes the Kubernetes JSON schemas the manifests are validated against
// (deploy/deploy_test.go), in kubeconform's standalone-strict layout, from the API's own
// OpenAPI document (api/openapi-spec/swagger.json of k8s.io/kubernetes):
//
//	go mod download -json k8s.io/kubernetes@v1.37.2   # prints its Dir
//	go run deploy/k8s/schemas/generate.go <Dir>/api/openapi-spec/swagger.json
//
// Only the kinds livegate ships are written; every $ref is inlined and every object
// refuses properties its schema does not name, as kubeconform's -strict does.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

var kinds = map[string]string{ // definition -> file
	"io.k8s.api.apps.v1.Deployment":                     "deployment-apps-v1.json",
	"io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler": "horizontalpodautoscaler-autoscaling-v2.json",
	"io.k8s.api.core.v1.ServiceAccount":                 "serviceaccount-v1.json",
	"io.k8s.api.rbac.v1.ClusterRole":                    "clusterrole-rbac-v1.json",
	"io.k8s.api.rbac.v1.ClusterRoleBinding":             "clusterrolebinding-rbac-v1.json",
	"io.k8s.api.apps.v1.StatefulSet":                    "statefulset-apps-v1.json",
	"io.k8s.api.core.v1.Service":                        "service-v1.json",
	"io.k8s.api.core.v1.Secret":                         "secret-v1.json",
	"io.k8s.api.core.v1.ConfigMap":                      "configmap-v1.json",
	"io.k8s.api.policy.v1.PodDisruptionBudget":          "poddisruptionbudget-policy-v1.json",
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		panic(err)
	}
	out := "deploy/k8s/schemas"
	if len(os.Args) > 2 {
		out = os.Args[2]
	}
	for def, file := range kinds {
		s := inline(doc.Definitions, doc.Definitions[def], map[string]bool{def: true})
		s["$schema"] = "http://json-schema.org/schema#"
		b, err := json.Marshal(s)
		if err != nil {
			panic(err)
		}
		if err := os.WriteFile(filepath.Join(out, file), b, 0o644); err != nil {
			panic(err)
		}
		fmt.Println(file, len(b))
	}
}

// inline copies a schema with its references resolved; seen breaks cycles (which the
// kinds above do not have) by leaving an open object.
func inline(defs map[string]map[string]any, s map[string]any, seen map[string]bool) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		if strings.HasSuffix(name, ".Quantity") { // "500m", "1", 1 and 0.5 are all quantities
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		}
		if seen[name] {
			return map[string]any{"type": "object"}
		}
		next := map[string]bool{name: true}
		for k := range seen {
			next[k] = true
		}
		return inline(defs, defs[name], next)
	}
	out := map[string]any{}
	for k, v := range s {
		if strings.HasPrefix(k, "x-kubernetes-") || k == "description" {
			continue
		}
		switch k {
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = inline(defs, p.(map[string]any), seen)
			}
			out[k] = props
		case "items", "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = inline(defs, m, seen)
			} else {
				out[k] = v
			}
		default:
			out[k] = v
		}
	}
	// int-or-string and quantities are written either way.
	if f, _ := out["format"].(string); f == "int-or-string" {
		delete(out, "type")
		delete(out, "format")
		out["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
	}
	if _, ok := out["properties"]; ok {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
		// apiVersion, kind and metadata may be omitted by nothing; status never written.
	}
	// null is what YAML makes of an empty value.
	if t, ok := out["type"].(string); ok {
		out["type"] = []any{t, "null"}
	}
	return out
}
