"""Embed two photos with a facev3 service and tell whether their largest faces are one person.

    pip install facev3[client]
    python examples/embed_and_compare.py --url http://localhost:8000 a.jpg b.jpg

With API keys on the service, pass --api-key KEY or set FACEV3_API_KEY. Exit status: 0 when the
photos were compared (whatever the verdict), 1 when a photo has no usable face, 2 on a service
error.
"""

import argparse
import os
import sys

from facev3.client import Client, FaceV3Error


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs=2, metavar="PHOTO", help="two photos (JPEG, PNG, WebP...)")
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the service (default %(default)s)")
    parser.add_argument("--api-key", default=os.environ.get("FACEV3_API_KEY"), help="default $FACEV3_API_KEY")
    args = parser.parse_args(argv)
    with Client(args.url, api_key=args.api_key) as client:
        try:
            embedded = client.embed(args.photos, ids=args.photos)  # one request for both photos
            faces = []
            for image in embedded.images:
                face = image.largest_face()
                if face is None:
                    reason = f"{image.error.code}: {image.error.message}" if image.error else "no face found"
                    print(f"{image.id}: {reason}")
                    return 1
                box = ", ".join(f"{v:.0f}" for v in face.bbox)
                print(f"{image.id}: {len(image.faces)} face(s) in {image.width}x{image.height}, largest at ({box})")
                faces.append(face)
            # The second face as the one candidate of a rerank against the first: a calibrated
            # 0-1 score and the service's decision at its threshold.
            ranked = client.rerank(faces[0].embedding, [(args.photos[1], faces[1].embedding)], model=embedded.model)
        except FaceV3Error as error:  # error.code is the service's, e.g. "unauthorized"
            print(f"error: {error}", file=sys.stderr)
            return 2
    match = ranked.results[0]
    verdict = "same person" if match.match else "different people"
    details = f"cosine {match.cosine:.3f}, threshold {ranked.threshold}, {embedded.model}"
    print(f"{verdict}: score {match.score:.3f} ({details})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
