// Package deploy_test checks what ships in deploy/ and docker-compose.yml against the
// server they start, since no container engine or cluster runs where the tests do: the
// Kubernetes manifests validate against the API's schemas (vendored in k8s/schemas,
// kubeconform's validator), the compose file loads with the compose-spec loader, and
// every setting the image, the manifests, the compose file and the example config name
// is an option livegate has.
package deploy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/yannh/kubeconform/pkg/validator"
	"sigs.k8s.io/yaml"

	"github.com/livegate/livegate/internal/config"
)

func manifests(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) < 4 {
		t.Fatalf("manifests: %v %v", files, err)
	}
	return files
}

func kubeValidator(t *testing.T) validator.Validator {
	t.Helper()
	v, err := validator.New([]string{"k8s/schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json"}, validator.Opts{Strict: true})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestManifestsValidateAgainstKubernetesSchemas(t *testing.T) {
	v := kubeValidator(t)
	kinds := map[string]bool{}
	for _, file := range manifests(t) {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range v.Validate(file, f) {
			sig, _ := res.Resource.Signature()
			if res.Status != validator.Valid {
				t.Errorf("%s: %v %v %v", file, sig, res.Err, res.ValidationErrors)
				continue
			}
			kinds[sig.Kind] = true
		}
	}
	for _, want := range []string{"Deployment", "Service", "PodDisruptionBudget", "Secret", "StatefulSet", "HorizontalPodAutoscaler",
		"ServiceAccount", "ClusterRole", "ClusterRoleBinding"} {
		if !kinds[want] {
			t.Errorf("no valid %s among the manifests (got %v)", want, kinds)
		}
	}
}

// The validator is not a formality: a misspelt field and a wrong type are refused.
func TestSchemasRefuseWhatKubernetesWould(t *testing.T) {
	v := kubeValidator(t)
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {maxUnavailabel: 1}\n",
		"wrong type":    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: eighty}]}\n",
		"no such probe": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {selector: {}, template: {spec: {containers: [{name: a, readynessProbe: {}}]}}}\n",
	} {
		for _, res := range v.Validate(name, readCloser(doc)) {
			if res.Status == validator.Valid {
				t.Errorf("%s: accepted", name)
			}
		}
	}
}

// doc is one YAML document as plain values.
type doc = map[string]any

func docs(t *testing.T, file string) []doc {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []doc
	for _, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		var d doc
		if err := yaml.Unmarshal([]byte(part), &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d != nil {
			out = append(out, d)
		}
	}
	return out
}

func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// The livegate workload fits the server: probes on its health endpoints, a termination
// grace that covers the drain, the UDP mux port on the host, one pod per machine, its
// public address read from the API (which its service account may read), secrets from
// the Secret, a disruption budget, an autoscaler on the Deployment, and only settings
// livegate has.
func TestLivegateWorkloadFitsTheNode(t *testing.T) {
	known := config.EnvNames()
	var ds, pdb, hpa, role, binding doc
	secretKeys := map[string]bool{}
	for _, file := range manifests(t) {
		for _, d := range docs(t, file) {
			switch {
			case d["kind"] == "Deployment" && dig(d, "metadata", "name") == "livegate":
				ds = d
			case d["kind"] == "PodDisruptionBudget":
				pdb = d
			case d["kind"] == "HorizontalPodAutoscaler":
				hpa = d
			case d["kind"] == "ClusterRole":
				role = d
			case d["kind"] == "ClusterRoleBinding":
				binding = d
			case d["kind"] == "Secret" && dig(d, "metadata", "name") == "livegate":
				for k := range dig(d, "stringData").(map[string]any) {
					secretKeys[k] = true
				}
			}
		}
	}
	if ds == nil || pdb == nil || hpa == nil || role == nil || binding == nil || len(secretKeys) == 0 {
		t.Fatalf("missing the livegate Deployment, its PodDisruptionBudget, autoscaler, ClusterRole and binding, or its Secret")
	}
	if dig(hpa, "spec", "scaleTargetRef", "kind") != "Deployment" || dig(hpa, "spec", "scaleTargetRef", "name") != "livegate" {
		t.Errorf("the autoscaler scales %v", dig(hpa, "spec", "scaleTargetRef"))
	}
	rule := dig(role, "rules").([]any)[0]
	if fmt.Sprint(dig(rule, "resources")) != "[nodes]" || fmt.Sprint(dig(rule, "verbs")) != "[get]" {
		t.Errorf("the ClusterRole grants %v: want get on nodes, and nothing else", rule)
	}
	if sa := dig(ds, "spec", "template", "spec", "serviceAccountName"); sa != "livegate" ||
		dig(binding, "subjects").([]any)[0].(map[string]any)["name"] != sa || dig(binding, "roleRef", "name") != dig(role, "metadata", "name") {
		t.Errorf("the pods' service account %v is not the one bound to the node reader", sa)
	}
	if dig(ds, "spec", "template", "spec", "affinity", "podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution") == nil {
		t.Error("two pods could land on one machine, whose ports they share")
	}
	for k := range secretKeys {
		if !slices.Contains(known, k) {
			t.Errorf("Secret key %s is no livegate setting", k)
		}
	}
	for _, want := range []string{"LIVEGATE_API_KEY", "LIVEGATE_PLAYBACK_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "LIVEGATE_DATABASE_URL", "LIVEGATE_REDIS_URL"} {
		if !secretKeys[want] {
			t.Errorf("the Secret has no %s", want)
		}
	}
	if dig(pdb, "spec", "selector", "matchLabels", "app") != "livegate" {
		t.Errorf("the PodDisruptionBudget does not select livegate: %v", dig(pdb, "spec", "selector"))
	}
	spec := dig(ds, "spec", "template", "spec")
	c := dig(spec, "containers").([]any)[0]
	env := map[string]string{}
	for _, e := range dig(c, "env").([]any) {
		name := dig(e, "name").(string)
		val, _ := dig(e, "value").(string)
		env[name] = val
		if name != "HOST_IP" && !slices.Contains(known, name) {
			t.Errorf("env %s is no livegate setting", name)
		}
	}
	if dig(c, "envFrom").([]any)[0].(map[string]any)["secretRef"].(map[string]any)["name"] != "livegate" {
		t.Error("secrets do not come from the livegate Secret")
	}
	grace, err := time.ParseDuration(env["LIVEGATE_SHUTDOWN_GRACE"])
	if err != nil {
		t.Fatalf("LIVEGATE_SHUTDOWN_GRACE %q: %v", env["LIVEGATE_SHUTDOWN_GRACE"], err)
	}
	// The node drains for the grace period, then takes up to 5s closing its HTTP server
	// and a little more its stores.
	if tg := time.Duration(dig(spec, "terminationGracePeriodSeconds").(float64)) * time.Second; tg < grace+10*time.Second {
		t.Errorf("terminationGracePeriodSeconds %v does not cover a %v drain and the close after it", tg, grace)
	}
	if dig(c, "readinessProbe", "httpGet", "path") != "/readyz" || dig(c, "livenessProbe", "httpGet", "path") != "/healthz" {
		t.Errorf("probes %v %v", dig(c, "readinessProbe"), dig(c, "livenessProbe"))
	}
	if dig(spec, "hostNetwork") != true {
		t.Error("media needs the host network (one UDP port per node, reachable by viewers)")
	}
	udp := false
	for _, p := range dig(c, "ports").([]any) {
		if dig(p, "protocol") == "UDP" && strings.TrimSpace(env["LIVEGATE_UDP_PORT"]) == jsonNumber(dig(p, "containerPort")) {
			udp = true
		}
	}
	if !udp {
		t.Errorf("no UDP port matching LIVEGATE_UDP_PORT %q", env["LIVEGATE_UDP_PORT"])
	}
	kubeNode := false
	for _, e := range dig(c, "env").([]any) {
		kubeNode = kubeNode || dig(e, "name") == "LIVEGATE_KUBE_NODE" && dig(e, "valueFrom", "fieldRef", "fieldPath") == "spec.nodeName"
	}
	if !kubeNode || !strings.Contains(env["LIVEGATE_PUBLIC_URL"], "{public_ip}") {
		t.Errorf("the pods do not announce their machine's public address (LIVEGATE_KUBE_NODE from spec.nodeName, {public_ip} in LIVEGATE_PUBLIC_URL): %v", env)
	}
	if env["LIVEGATE_PRODUCTION"] != "true" {
		t.Error("the cluster's nodes do not run with --production")
	}
}

// jsonNumber writes a number YAML decoded (as a float64) the way it was written.
func jsonNumber(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return ""
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// The compose file loads with the compose-spec loader into a fleet of two livegate nodes
// with their Redis, PostgreSQL and stripe-mock, each node with its own id and UDP port,
// and every variable it sets is a livegate setting.
func TestComposeFileLoads(t *testing.T) {
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"}, cli.WithName("livegate"),
		cli.WithWorkingDirectory(".."), cli.WithEnv([]string{
			"LIVEGATE_API_KEY=k", "LIVEGATE_PLAYBACK_SECRET=p", "LIVEGATE_VIEWER_JWT_SECRET=v", "STRIPE_WEBHOOK_SECRET=w"}))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("compose-spec loader: %v", err)
	}
	known := config.EnvNames()
	ids, udp := map[string]bool{}, map[string]bool{}
	nodes := 0
	for name, s := range p.Services {
		if !strings.HasPrefix(name, "livegate") {
			continue
		}
		nodes++
		for k, v := range s.Environment {
			if !slices.Contains(known, k) {
				t.Errorf("%s: %s is no livegate setting", name, k)
			}
			if v == nil {
				continue
			}
			switch k {
			case "LIVEGATE_NODE_ID":
				ids[*v] = true
			case "LIVEGATE_UDP_PORT":
				udp[*v] = true
			}
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s is not built from deploy/Dockerfile: %+v", name, s.Build)
		}
		// A node started before PostgreSQL is ready exits: it waits for health, and
		// comes back.
		for _, dep := range []string{"postgres", "redis"} {
			if d, ok := s.DependsOn[dep]; !ok || d.Condition != "service_healthy" {
				t.Errorf("%s does not wait for %s to be healthy: %+v", name, dep, s.DependsOn)
			}
			if p.Services[dep].HealthCheck == nil || len(p.Services[dep].HealthCheck.Test) == 0 {
				t.Errorf("%s has no health check for %s to wait on", dep, name)
			}
		}
		if s.Restart == "" || s.Restart == "no" {
			t.Errorf("%s does not restart when it stops", name)
		}
	}
	// Compose and Kubernetes run the same PostgreSQL major.
	k8s, err := os.ReadFile("k8s/postgres.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`image:\s*(postgres:\d+)`).FindSubmatch(k8s); m == nil || p.Services["postgres"].Image != string(m[1]) {
		t.Errorf("compose runs %q, Kubernetes %q", p.Services["postgres"].Image, m)
	}
	for _, want := range []string{"postgres", "redis", "stripe-mock"} {
		if _, ok := p.Services[want]; !ok {
			t.Errorf("no %s service", want)
		}
	}
	if nodes != 2 || len(ids) != 2 || len(udp) != 2 {
		t.Errorf("%d livegate nodes with ids %v and UDP ports %v; want two, each its own", nodes, ids, udp)
	}
}

// The image runs the server as built, as a non-root user, with ports and settings the
// server has.
func TestImageMatchesTheServer(t *testing.T) {
	raw, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	known := config.EnvNames()
	d := config.Default()
	var entry string
	stages := 0
	nonRoot := false
	expose := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			stages++
			nonRoot = strings.Contains(line, ":nonroot")
		case strings.HasPrefix(line, "USER "):
			nonRoot = !strings.Contains(line, "root") || strings.Contains(line, "nonroot")
		case strings.HasPrefix(line, "ENTRYPOINT "):
			entry = line
		case strings.HasPrefix(line, "EXPOSE "):
			for _, p := range strings.Fields(line)[1:] {
				expose[p] = true
			}
		case strings.HasPrefix(line, "ENV "):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "ENV "), "=")
			if !slices.Contains(known, name) {
				t.Errorf("ENV %s is no livegate setting", name)
			}
		}
	}
	if stages < 2 || !nonRoot {
		t.Errorf("want a multi-stage build ending in a non-root image: %d stages, non-root %v", stages, nonRoot)
	}
	// The data directory exists in the image and belongs to the user the server runs as
	// (distroless nonroot: 65532), or the server cannot write its data or recordings.
	if !regexp.MustCompile(`(?m)^COPY --from=\w+ --chown=65532:65532 \S+ /var/lib/livegate$`).Match(raw) {
		t.Error("the image does not make its data directory owned by its nonroot user")
	}
	if !strings.Contains(string(raw), "ENV LIVEGATE_DATA_DIR=/var/lib/livegate") {
		t.Error("the image's data directory is not the one it makes")
	}
	if !strings.Contains(entry, `"/usr/local/bin/livegate"`) || !strings.Contains(string(raw), "./cmd/livegate") {
		t.Errorf("the entrypoint %q is not the server built from ./cmd/livegate", entry)
	}
	// The entrypoint takes no flags of its own: every flag it could pass is a setting.
	for _, f := range regexp.MustCompile(`"--([a-z0-9-]+)`).FindAllStringSubmatch(entry, -1) {
		if !slices.Contains(known, config.EnvName(f[1])) {
			t.Errorf("the entrypoint passes --%s, which livegate does not have", f[1])
		}
	}
	_, http, _ := strings.Cut(d.HTTPAddr, ":")
	_, tcp, _ := strings.Cut(d.TCPAddr, ":")
	for _, p := range []string{http + "/tcp", tcp + "/tcp", jsonNumber(float64(d.UDPPort)) + "/udp"} {
		if !expose[p] {
			t.Errorf("the image does not expose %s (the server's default)", p)
		}
	}
}

// The example configuration names every option, so an operator reads them all in one place.
func TestExampleConfigNamesEveryOption(t *testing.T) {
	raw, err := os.ReadFile("livegate.env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range config.EnvNames() {
		if !regexp.MustCompile(`(?m)^#?\s*` + name + `=`).Match(raw) {
			t.Errorf("livegate.env.example does not name %s", name)
		}
	}
}
