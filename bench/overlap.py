"""Embedding overlapping detection on the embedded backend (issue 18), measured in-process:

    .venv/bin/python -m bench.overlap [--seconds 4] [--rounds 3]

Multi-image requests through the pipeline from 1 and 2 threads, with each image's faces embedded
on a spare core while the next image is detected (the backend's default: `OverlappingStage`) and
with every face embedded at the end (as when every core is taken), in alternating rounds.
"""

import statistics

from bench.in_process import pipeline_and_args, throughput

PHOTO_SETS = {
    "8 one-face photos": ("Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg", "obama_small.jpg") * 2
    + ("Rob_Lowe_0001.jpg", "Rob_Lowe_0002.jpg"),
    "4 photos, 9 faces": ("Rob_Lowe_0001.jpg", "t1.jpg", "obama_small.jpg", "Rob_Lowe_0002.jpg"),
}


def main() -> None:
    from tests.support.photos import photo_path

    pipeline, args = pipeline_and_args(__doc__, seconds=4.0, rounds=3)
    backend = pipeline.backend
    streams = backend._streams
    print(f"embedder on {backend.runtimes['embedder']}, {streams} streams")
    print("| request | threads | at the end, images/s | overlapped, images/s | overlapped / at the end |")
    print("|---|---|---|---|---|")
    for name, photos in PHOTO_SETS.items():
        images = [photo_path(photo).read_bytes() for photo in photos]
        for threads in (1, 2):
            rates: dict[int, list[float]] = {0: [], streams: []}
            for _ in range(args.rounds):
                for mode in rates:
                    backend._streams = mode  # 0: no core to spare, so nothing runs ahead
                    rates[mode].append(throughput(pipeline, images, threads, args.seconds) * len(images))
            end, ahead = statistics.median(rates[0]), statistics.median(rates[streams])
            print(f"| {name} | {threads} | {end:.1f} | {ahead:.1f} | {ahead / end:.2f} |")
    backend._streams = streams
    backend.close()


if __name__ == "__main__":
    main()
