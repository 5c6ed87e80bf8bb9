#!/usr/bin/env python3
"""musicnn's own tagger on audio files: the reference tests/musicnn.rs compares melotag with.

Usage: .venv-musicnn/bin/python tools/musicnn_reference.py [--model MSD_musicnn|MTT_musicnn]
                                                           [--save-audio DIR] OUT.json FILE...

Runs musicnn.extractor.extractor(file, model=MODEL, input_length=3, input_overlap=False)
(librosa decoding at 16 kHz, TensorFlow on the original checkpoint; MODEL defaults to
MSD_musicnn, melotag's musicnn_msd; MTT_musicnn is musicnn_mtt) and writes
{"tags": [...], "tracks": {FILE: {"taggram": [[...]], "mean": [...]}}}, where "tags" is the
model's label list and "mean" is the track score melotag computes in full mode: the mean of the
taggram over its patches.

--save-audio DIR also writes the audio exactly as the extractor analyses it (librosa.load at
16 kHz) to DIR/<stem>.wav as 32-bit float, so melotag can be checked on identical samples:
that isolates its front end and model from its decoder and resampler.
"""
import argparse
import contextlib
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MODELS = ["MSD_musicnn", "MTT_musicnn"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=MODELS, default=MODELS[0],
                    help="musicnn checkpoint (default: %(default)s)")
    ap.add_argument("--save-audio", metavar="DIR",
                    help="also write the 16 kHz audio the extractor analyses to DIR/<stem>.wav")
    ap.add_argument("out", metavar="OUT.json")
    ap.add_argument("files", metavar="FILE", nargs="+")
    a = ap.parse_args()
    import warnings
    warnings.filterwarnings("ignore")
    from musicnn.extractor import extractor

    tracks, tags = {}, None
    for f in a.files:
        # the extractor prints progress on stdout
        with contextlib.redirect_stdout(sys.stderr):
            taggram, tags = extractor(f, model=a.model, input_length=3,
                                      input_overlap=False, extract_features=False)
        tracks[f] = {"taggram": taggram.tolist(), "mean": taggram.mean(axis=0).tolist()}
        if a.save_audio:
            import librosa
            import soundfile
            from musicnn import configuration as config
            y, sr = librosa.load(f, sr=config.SR)   # what extractor.batch_data analyses
            stem = os.path.splitext(os.path.basename(f))[0]
            soundfile.write(os.path.join(a.save_audio, stem + ".wav"), y, sr, subtype="FLOAT")
    with open(a.out, "w") as fh:
        json.dump({"tags": list(tags), "tracks": tracks}, fh)


if __name__ == "__main__":
    main()
