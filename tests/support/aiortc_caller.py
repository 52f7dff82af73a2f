"""An audio-only WebRTC caller on aiortc (an independent WebRTC stack), with
no data channel, for the hang-up tests.

usage: aiortc_caller.py OFFER_URL WEBRTC_ID MODE
  MODE "close": on the line "hangup" from stdin, pc.close() (RTCP BYE and
                DTLS close_notify).
  MODE "bye":   on "hangup", stop the audio sender only (RTCP BYE), keep
                the connection open until stdin closes.
Prints CONNECTED, HUNGUP, and EXIT.
"""

import asyncio
import fractions
import json
import math
import sys
import urllib.request

from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame


class Tone(MediaStreamTrack):
    kind = "audio"

    def __init__(self):
        super().__init__()
        self._t = 0
        self._start = None

    async def recv(self):
        loop = asyncio.get_event_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._t / 8000 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        samples = 160
        frame = AudioFrame(format="s16", layout="mono", samples=samples)
        data = bytearray()
        for i in range(samples):
            v = int(6000 * math.sin(2 * math.pi * 440 * (self._t + i) / 8000))
            data += v.to_bytes(2, "little", signed=True)
        frame.planes[0].update(bytes(data))
        frame.sample_rate = 8000
        frame.pts = self._t
        frame.time_base = fractions.Fraction(1, 8000)
        self._t += samples
        return frame


def post(url, body):
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())


def say(line):
    print(line, flush=True)


async def main():
    url, webrtc_id, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    pc = RTCPeerConnection()
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state():
        if pc.connectionState == "connected":
            connected.set()

    transceiver = pc.addTransceiver(Tone(), direction="sendrecv")

    @pc.on("track")
    def on_track(track):
        async def drain():
            try:
                while True:
                    await track.recv()
            except Exception:
                pass

        asyncio.ensure_future(drain())

    await pc.setLocalDescription(await pc.createOffer())
    answer = await asyncio.to_thread(
        post,
        url,
        {"sdp": pc.localDescription.sdp, "type": "offer", "webrtc_id": webrtc_id},
    )
    if answer.get("type") != "answer":
        say("FAILED " + json.dumps(answer))
        return
    await pc.setRemoteDescription(
        RTCSessionDescription(sdp=answer["sdp"], type="answer")
    )
    await asyncio.wait_for(connected.wait(), 20)
    say("CONNECTED")
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    while (await reader.readline()).strip() != b"hangup":
        pass
    if mode == "bye":
        await transceiver.sender.stop()
        say("HUNGUP")
        await reader.read()  # until stdin closes
    else:
        await pc.close()
        say("HUNGUP")
    await pc.close()
    say("EXIT")


asyncio.run(main())
