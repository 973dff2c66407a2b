"""What the MLflow UI spec (ui.spec.ts) shows, in an experiment the spec created through the BFF: a run
with metric histories, params and an artifact, a logged model, a trace, a registered model and a prompt.

    python ui-seed.py '{"experiment_id": "1", "marker": "vis1a2b3c"}'

MLFLOW_TRACKING_URI is the real MLflow itself: this is the data the pages show, not the behaviour under
test. Every name carries the marker, so that the spec can look for it in what reaches a page. Prints
one JSON line prefixed with RESULT.
"""

import json
import os
import sys
import tempfile

import mlflow
from mlflow import MlflowClient


def seed(args):
    marker = args["marker"]
    exp_id = args["experiment_id"]
    client = MlflowClient()
    mlflow.set_experiment(experiment_id=exp_id)
    with mlflow.start_run(run_name=f"run-{marker}") as run:
        mlflow.log_params({"alpha": "0.5", f"param-{marker}": "1"})
        for step in range(5):
            mlflow.log_metrics({f"loss-{marker}": 1.0 / (step + 1), "acc": step / 5}, step=step)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, f"notes-{marker}.txt")
            with open(path, "w") as f:
                f.write(f"artifact text {marker}\n")
            mlflow.log_artifact(path)
        run_id = run.info.run_id
    model = mlflow.initialize_logged_model(name=f"model-{marker}", source_run_id=run_id, experiment_id=exp_id)
    mlflow.finalize_logged_model(model.model_id, "READY")

    @mlflow.trace(name=f"predict-{marker}")
    def predict(x):
        return x * 2

    predict(21)
    trace_id = mlflow.get_last_active_trace_id()
    registered = client.create_registered_model(f"registered-{marker}")
    prompt = mlflow.genai.register_prompt(name=f"prompt-{marker}", template="Say {{greeting}} " + marker)
    return {
        "experiment_id": exp_id,
        "run_id": run_id,
        "model_id": model.model_id,
        "trace_id": trace_id,
        "registered_model": registered.name,
        "prompt": prompt.name,
    }


if __name__ == "__main__":
    print("RESULT " + json.dumps(seed(json.loads(sys.argv[1]))), flush=True)
