"""Probe: tag guidance at test time, as classifier-free guidance does it: out = u + (1 + w)(c - u),
c the colouring with the tags, u with none (the model saw no tags in about 10% of its training
samples: tag dropout). Scores the shipped model per w on a dataset's val split.

    python docs/results/guidance/probe.py data/openmoji 0 0,0.1,0.2,0.5,1,2
    (DATA, LIMIT (0: all), comma-separated w)
"""
import json, sys, time
import torch
from colorize.infer.colorizer import Colorizer, DEFAULT_MODEL
from colorize.eval.evaluate import evaluate
orig = Colorizer.predict
W = 0.0
def predict(self, sketches, tags, compose=True):
    c = orig(self, sketches, tags, compose)
    if W == 0:
        return c
    u = orig(self, sketches, self.embed([[] for _ in range(sketches.shape[0])]), compose)
    return (u + (1 + W) * (c - u)).clamp(-1, 1)
Colorizer.predict = predict
c = Colorizer.from_pretrained(DEFAULT_MODEL, device="cpu")
data, limit = sys.argv[1], (int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2] != "0" else None)
for w in [float(x) for x in sys.argv[3].split(",")]:
    W = w
    t = time.time()
    r = evaluate(c, data, split="val", limit=limit, progress=False, baseline=False)
    h = r["hands"]
    print(json.dumps({"w": w, "data": data, "s": round(time.time() - t),
                      **{f"{cond}.{k}": round(v.get("accuracy", v.get("share")), 3) for cond in ("own", "traced")
                         for k, v in h[cond].items() if isinstance(v, dict) and v.get("accuracy", v.get("share")) is not None},
                      "de": r["conditions"]["tags"]["all"].get("delta_e")}), flush=True)
