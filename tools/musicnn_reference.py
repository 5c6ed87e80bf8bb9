#!/usr/bin/env python3
"""musicnn's own tagger on audio files: the reference tests/musicnn.rs compares melotag with.

Usage: .venv-musicnn/bin/python tools/musicnn_reference.py [--save-audio DIR] OUT.json FILE...

Runs musicnn.extractor.extractor(file, model='MSD_musicnn', input_length=3,
input_overlap=False) (librosa decoding at 16 kHz, TensorFlow on the original checkpoint) and
writes {"tags": [...], "tracks": {FILE: {"taggram": [[...]], "mean": [...]}}}, where "mean"
is the track score melotag computes in full mode: the mean of the taggram over its patches.

--save-audio DIR also writes the audio exactly as the extractor analyses it (librosa.load at
16 kHz) to DIR/<stem>.wav as 32-bit float, so melotag can be checked on identical samples:
that isolates its front end and model from its decoder and resampler.
"""
import contextlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    args = sys.argv[1:]
    save_dir = None
    if args[:1] == ["--save-audio"]:
        save_dir, args = args[1], args[2:]
    if len(args) < 2:
        sys.exit(__doc__)
    out, files = args[0], args[1:]
    import warnings
    warnings.filterwarnings("ignore")
    from musicnn.extractor import extractor

    tracks, tags = {}, None
    for f in files:
        # the extractor prints progress on stdout
        with contextlib.redirect_stdout(sys.stderr):
            taggram, tags = extractor(f, model="MSD_musicnn", input_length=3,
                                      input_overlap=False, extract_features=False)
        tracks[f] = {"taggram": taggram.tolist(), "mean": taggram.mean(axis=0).tolist()}
        if save_dir:
            import librosa
            import soundfile
            from musicnn import configuration as config
            y, sr = librosa.load(f, sr=config.SR)   # what extractor.batch_data analyses
            stem = os.path.splitext(os.path.basename(f))[0]
            soundfile.write(os.path.join(save_dir, stem + ".wav"), y, sr, subtype="FLOAT")
    with open(out, "w") as fh:
        json.dump({"tags": list(tags), "tracks": tracks}, fh)


if __name__ == "__main__":
    main()
