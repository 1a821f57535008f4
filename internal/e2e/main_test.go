package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/livegate/livegate/internal/mediagen"
	"github.com/livegate/livegate/internal/testenv"
	"github.com/livegate/livegate/internal/testservices"
	"github.com/livegate/livegate/internal/whipclient"
)

// childPublishEnv makes the test binary a WHIP encoder instead (see startChildPublisher):
// a process the test can kill with SIGKILL, as an encoder crashes.
const childPublishEnv = "LIVEGATE_E2E_CHILD_PUBLISH"

func TestMain(m *testing.M) {
	if endpoint := os.Getenv(childPublishEnv); endpoint != "" {
		os.Exit(childPublisher(endpoint, os.Getenv(childPublishEnv+"_KEY")))
	}
	if spec := os.Getenv(childViewEnv); spec != "" {
		os.Exit(childViewer(spec))
	}
	code := testservices.Main(m)
	testenv.RemoveBinary()
	os.Exit(code)
}

// childPublisher publishes VP8 (a keyframe every 30 frames) and Opus until it is killed.
func childPublisher(endpoint, key string) int {
	api, err := whipclient.NewAPI(whipclient.Options{Interfaces: []string{"lo"}, Loopback: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	video, err := mediagen.NewVideo(webrtc.MimeTypeVP8, 300_000)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	video.KeyframeEvery = 30
	audio, err := mediagen.NewOpus()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	_, senders, err := whipclient.Publish(ctx, api, endpoint, key, video.Track, audio.Track)
	if err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		return 1
	}
	go video.ReadRTCP(senders[0])
	go audio.ReadRTCP(senders[1])
	go audio.Run(ctx)
	fmt.Println("PUBLISHING")
	video.Run(ctx) // until killed
	return 0
}
