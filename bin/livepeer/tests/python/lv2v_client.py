"""A live-video-to-video client built on Livepeer's Python gateway SDK (`livepeer_gateway`).

Run by bin/livepeer/tests/it/python_client.rs with .setup/pygateway/bin/python (scripts/setup.sh
installs livepeer-gateway there). It uses only the SDK's public API, as a third-party gateway
would:

1. `start_lv2v` picks an orchestrator (`--orchestrator`, or the signer's
   `/discover-orchestrators`), fetches its OrchestratorInfo over gRPC with TLS pinned on first
   use, pays through the remote signer when `--signer` is given (`/sign-orchestrator-info`,
   `/generate-live-payment`, then `<orchestrator>/payment` while output segments arrive) and
   posts `/live-video-to-video`;
2. `MediaPublish` encodes `--frames` synthetic frames with PyAV (a dark picture with a bright
   square moving across it, at `--fps` in real time) and publishes them as MPEG-TS over trickle;
3. `MediaOutput.frames()` reads the processed frames back and decodes them;
4. the events channel is read throughout, and with `--update` the control channel carries new
   params once `--update-at` frames have been sent.

It prints one JSON object on stdout: frames sent and received, the sizes seen, the mean luma
(Y plane, 0-255) of the output before and after the update, the events seen, and any errors.
It exits 0 when the job ran (whatever came back), 1 when it could not start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from fractions import Fraction
from typing import Any, Optional

import av

from livepeer_gateway import (
    LivepeerGatewayError,
    MediaPublishConfig,
    StartJobRequest,
    VideoOutputConfig,
    start_lv2v,
)

BACKGROUND_LUMA = 40
SQUARE_LUMA = 220
NEUTRAL_CHROMA = 128


def synthetic_frame(index: int, width: int, height: int, fps: int) -> av.VideoFrame:
    """Frame `index` of the test pattern: luma 40 with a 220 square moving left to right."""
    frame = av.VideoFrame(width, height, "yuv420p")
    luma = frame.planes[0]
    side = max(16, height // 4)
    x0 = (index * 4) % max(1, width - side)
    y0 = (height - side) // 2
    row_dark = bytes([BACKGROUND_LUMA]) * luma.line_size
    row_lit = bytearray(row_dark)
    row_lit[x0 : x0 + side] = bytes([SQUARE_LUMA]) * side
    rows = [bytes(row_lit) if y0 <= y < y0 + side else row_dark for y in range(luma.height)]
    luma.update(b"".join(rows))
    for plane in frame.planes[1:]:
        plane.update(bytes([NEUTRAL_CHROMA]) * plane.buffer_size)
    frame.pts = index
    frame.time_base = Fraction(1, fps)
    return frame


def mean_luma(frame: av.VideoFrame) -> float:
    """Mean of the Y plane's visible pixels (line padding left out)."""
    plane = frame.planes[0]
    data = bytes(plane)
    width = plane.width
    total = 0
    for y in range(plane.height):
        start = y * plane.line_size
        total += sum(data[start : start + width])
    return total / float(width * plane.height)


def mean(values: list[float]) -> Optional[float]:
    return round(sum(values) / len(values), 2) if values else None


async def run(args: argparse.Namespace) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "orchestrator": None,
        "manifest_id": None,
        "paid": False,
        "frames_sent": 0,
        "frames_received": 0,
        "input_size": f"{args.width}x{args.height}",
        "output_sizes": [],
        "mean_luma_before_update": None,
        "mean_luma_after_update": None,
        "mean_luma": None,
        "update_sent": False,
        "events": 0,
        "event_types": [],
        "errors": [],
    }
    params = json.loads(args.params) if args.params else None
    orchestrators = [args.orchestrator] if args.orchestrator else None
    try:
        job = start_lv2v(
            orchestrators,
            StartJobRequest(model_id=args.model, params=params, stream_id="python-client"),
            signer_url=args.signer,
            timeout=args.start_timeout,
        )
    except LivepeerGatewayError as e:
        summary["errors"].append(f"start_lv2v: {e}")
        summary["start_failed"] = True
        return summary

    info = job.orchestrator_info
    summary["orchestrator"] = info.transcoder if info is not None else None
    summary["manifest_id"] = job.manifest_id
    summary["paid"] = job.payment_session is not None and bool(args.signer)

    received = 0
    sizes: set[str] = set()
    luma_all: list[float] = []
    luma_before: list[float] = []
    luma_after: list[float] = []
    update_sent_at: Optional[float] = None
    last_frame_at = time.monotonic()
    event_types: set[str] = set()
    events = 0

    async def read_output() -> None:
        nonlocal received, last_frame_at
        output = job.media_output()
        try:
            async for decoded in output.frames():
                if decoded.kind != "video":
                    continue
                received += 1
                last_frame_at = time.monotonic()
                sizes.add(f"{decoded.width}x{decoded.height}")
                if args.luma_every > 0 and received % args.luma_every == 0:
                    value = mean_luma(decoded.frame)
                    luma_all.append(value)
                    # Frames decoded well after the update carry the new params.
                    if update_sent_at is None:
                        luma_before.append(value)
                    elif last_frame_at - update_sent_at > args.update_settle:
                        luma_after.append(value)
        finally:
            await output.close()

    async def read_events() -> None:
        nonlocal events
        if job.events is None:
            return
        async for event in job.events():
            events += 1
            inner = event.get("event") if isinstance(event.get("event"), dict) else event
            kind = inner.get("type") if isinstance(inner, dict) else None
            event_types.add(str(kind or event.get("queue_event_type") or "unknown"))

    output_task = asyncio.create_task(read_output())
    events_task = asyncio.create_task(read_events())

    media = job.start_media(
        MediaPublishConfig(tracks=[VideoOutputConfig(fps=args.fps, keyframe_interval_s=1.0)])
    )
    start = time.monotonic()
    sent = 0
    try:
        for i in range(args.frames):
            if args.update and i == args.update_at and job.control is not None:
                await job.control.write(json.loads(args.update))
                update_sent_at = time.monotonic()
                summary["update_sent"] = True
            await media.write_frame(synthetic_frame(i, args.width, args.height, args.fps))
            sent += 1
            # Real time: frame i leaves at i / fps.
            delay = start + (i + 1) / args.fps - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    except Exception as e:  # a publish failure is reported, not raised
        summary["errors"].append(f"publish: {e.__class__.__name__}: {e}")
    finally:
        try:
            await media.close()
        except Exception as e:
            summary["errors"].append(f"publish close: {e.__class__.__name__}: {e}")
    summary["frames_sent"] = sent

    # Output trails the input by the pipeline's latency: wait until every frame is back, the
    # output ends, or nothing arrives for --drain seconds.
    while not output_task.done() and received < sent:
        if time.monotonic() - max(last_frame_at, start) > args.drain:
            break
        await asyncio.sleep(0.2)
    for task in (output_task, events_task):
        if not task.done():
            task.cancel()
    for task, name in ((output_task, "output"), (events_task, "events")):
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception as e:
            summary["errors"].append(f"{name}: {e.__class__.__name__}: {e}")
    try:
        await job.close()
    except Exception as e:
        summary["errors"].append(f"close: {e.__class__.__name__}: {e}")

    summary["frames_received"] = received
    summary["output_sizes"] = sorted(sizes)
    summary["mean_luma"] = mean(luma_all)
    summary["mean_luma_before_update"] = mean(luma_before)
    summary["mean_luma_after_update"] = mean(luma_after)
    summary["events"] = events
    summary["event_types"] = sorted(event_types)
    summary["elapsed_s"] = round(time.monotonic() - start, 2)
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orchestrator", help="orchestrator https://host:port (else discovery)")
    parser.add_argument("--signer", help="remote signer URL (pays; discovers without --orchestrator)")
    parser.add_argument("--model", default="noop")
    parser.add_argument("--params", help="initial params, JSON")
    parser.add_argument("--update", help="control update (new params), JSON")
    parser.add_argument("--update-at", type=int, default=0, help="frame index the update goes at")
    parser.add_argument(
        "--update-settle", type=float, default=3.0,
        help="seconds after the update before output frames count as updated",
    )
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--luma-every", type=int, default=5, help="measure every Nth output frame")
    parser.add_argument("--drain", type=float, default=15.0, help="idle seconds before giving up")
    parser.add_argument("--start-timeout", type=float, default=10.0)
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper())
    summary = asyncio.run(run(args))
    print(json.dumps(summary, sort_keys=True))
    return 1 if summary.get("start_failed") else 0


if __name__ == "__main__":
    sys.exit(main())
