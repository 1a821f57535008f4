// A WHEP viewer on werift, an independent WebRTC stack: it offers recvonly audio and
// video, only on 127.0.0.1, and prints what it received as one JSON line.
//   node whep.mjs <whep-url> <seconds>
import { RTCPeerConnection, RTCRtpCodecParameters } from "werift";

const [url, seconds] = [process.argv[2], Number(process.argv[3] || 3)];
const loopbackOnly = (sdp) =>
  sdp.split("\r\n").filter((l) => !l.startsWith("a=candidate:") || l.includes(" 127.0.0.1 ")).join("\r\n");

const pc = new RTCPeerConnection({
  iceAdditionalHostAddresses: ["127.0.0.1"],
  iceUseIpv6: false,
  iceInterfaceAddresses: { udp4: "127.0.0.1" },
  iceFilterCandidatePair: (pair) => pair.remoteCandidate.host === "127.0.0.1",
  codecs: {
    audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 })],
    video: [new RTCRtpCodecParameters({ mimeType: "video/VP8", clockRate: 90000,
      rtcpFeedback: [{ type: "nack" }, { type: "nack", parameter: "pli" }] })],
  },
});
// connectMs: from start (gathering included); afterAnswerMs: from the WHEP answer to
// connected, what the node's first DTLS flight decides.
const got = { audio: 0, video: 0, connectMs: 0, afterAnswerMs: 0, answerStatus: 0 };
const start = Date.now();
let answered = 0;
pc.connectionStateChange.subscribe((s) => {
  if (s === "connected" && !got.connectMs) { got.connectMs = Date.now() - start; got.afterAnswerMs = Date.now() - answered; }
});
for (const kind of ["video", "audio"]) {
  const t = pc.addTransceiver(kind, { direction: "recvonly" });
  t.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => { got[kind]++; }));
}
await pc.setLocalDescription(await pc.createOffer());
await new Promise((done) => { if (pc.iceGatheringState === "complete") return done(); pc.iceGatheringStateChange.subscribe((s) => s === "complete" && done()); setTimeout(done, 3000); });
const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: loopbackOnly(pc.localDescription.sdp) });
got.answerStatus = res.status;
answered = Date.now();
if (res.status !== 201) {
  console.log(JSON.stringify({ ...got, error: await res.text() }));
  process.exit(1);
}
await pc.setRemoteDescription({ type: "answer", sdp: await res.text() });
await new Promise((done) => setTimeout(done, seconds * 1000));
console.log(JSON.stringify(got));
await pc.close();
process.exit(0);
