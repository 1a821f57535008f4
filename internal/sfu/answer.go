package sfu

import (
	"fmt"

	"github.com/pion/sdp/v3"
)

// shapeAnswer makes an answer say what the node will really do with each section of the
// offer, where pion's answer says otherwise: a section the offerer rejected (port 0
// without a=bundle-only) is answered rejected, port 0 and inactive (RFC 3264 §6, RFC 8843
// §7.3.3), and a section the node sends nothing on (a viewer asked for audio, the stream
// has none) is inactive instead of a sendonly with no stream behind it.
func shapeAnswer(offer Offer, answer string) (string, error) {
	rejected := map[string]bool{}
	for _, m := range offer.Media {
		if m.Rejected && m.Mid != "" {
			rejected[m.Mid] = true
		}
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(answer); err != nil {
		return "", fmt.Errorf("parse own answer: %w", err)
	}
	changed := false
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if kind != "audio" && kind != "video" {
			continue
		}
		mid, _ := md.Attribute("mid")
		switch {
		case rejected[mid]:
			md.MediaName.Port = sdp.RangedPort{Value: 0}
			setDirection(md, "inactive")
			changed = true
		case direction(md) == "sendonly" && !carriesStream(md):
			setDirection(md, "inactive")
			changed = true
		}
	}
	if !changed {
		return answer, nil
	}
	out, err := sd.Marshal()
	if err != nil {
		return "", fmt.Errorf("write own answer: %w", err)
	}
	return string(out), nil
}

func direction(md *sdp.MediaDescription) string {
	for _, a := range md.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return "sendrecv"
}

func setDirection(md *sdp.MediaDescription, dir string) {
	for i, a := range md.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			md.Attributes[i] = sdp.NewPropertyAttribute(dir)
			return
		}
	}
	md.Attributes = append(md.Attributes, sdp.NewPropertyAttribute(dir))
}

// carriesStream says whether a section announces a stream of ours (msid or ssrc lines).
func carriesStream(md *sdp.MediaDescription) bool {
	for _, a := range md.Attributes {
		if a.Key == "msid" || a.Key == "ssrc" {
			return true
		}
	}
	return false
}
