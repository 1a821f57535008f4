"""A WHEP viewer on aiortc (Python, Debian's python3-aiortc), an independent WebRTC stack
that decodes what it receives: it offers recvonly H.264 video and Opus audio, only on
127.0.0.1, and prints one JSON line: when the answer came, when it connected and when it
decoded its first video frame, in ms from the POST, and what it decoded in all.

    python3 whep.py <whep-url> <seconds>
"""

import asyncio
import json
import sys
import time
import urllib.request

import aioice.ice

# The network rule of the tests: loopback only. aioice gathers on every interface.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpReceiver, RTCSessionDescription  # noqa: E402


def post(url, sdp):
    req = urllib.request.Request(url, data=sdp.encode(), method="POST", headers={"Content-Type": "application/sdp"})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


async def main(url, seconds):
    got = {"answerMs": 0, "connectedMs": 0, "firstFrameMs": 0, "frames": 0, "width": 0, "height": 0, "audioFrames": 0}
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    video = pc.addTransceiver("video", direction="recvonly")
    video.setCodecPreferences([c for c in RTCRtpReceiver.getCapabilities("video").codecs if c.mimeType in ("video/H264", "video/rtx")])
    pc.addTransceiver("audio", direction="recvonly")
    start = 0.0
    tasks = []

    def ms():
        return int((time.monotonic() - start) * 1000)

    async def consume(track):
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            if track.kind == "video":
                if not got["frames"]:
                    got["firstFrameMs"] = ms()
                got["frames"] += 1
                got["width"], got["height"] = frame.width, frame.height
            else:
                got["audioFrames"] += 1

    @pc.on("track")
    def on_track(track):
        tasks.append(asyncio.ensure_future(consume(track)))

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected" and not got["connectedMs"]:
            got["connectedMs"] = ms()

    await pc.setLocalDescription(await pc.createOffer())  # gathers before it returns
    start = time.monotonic()
    status, body = await asyncio.get_running_loop().run_in_executor(None, post, url, pc.localDescription.sdp)
    got["answerMs"] = ms()
    if status != 201:
        got["error"] = f"{status}: {body}"
        print(json.dumps(got))
        await pc.close()
        return 1
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    await asyncio.sleep(seconds)
    print(json.dumps(got), flush=True)
    await pc.close()
    for t in tasks:
        t.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]))))
