"""The real MLflow Python client, driven by test/mlflow-real/*.spec.ts through the BFF.

    python client.py <scenario> [json arguments]

MLFLOW_TRACKING_URI is the BFF's /mlflow, MLFLOW_TRACKING_TOKEN a user's access token. The scenario's
result is printed as one JSON line prefixed with RESULT; an MlflowException is a result too
({"error": {"error_code": ..., "message": ...}}), as the client reports it to its user.
"""

import base64
import json
import os
import sys
import tempfile
import time

import mlflow
from client_datasets import DATASET_SCENARIOS
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException


def experiments(args):
    client = MlflowClient()
    exp_id = client.create_experiment(args["name"], tags={"team": "ml"})
    client.set_experiment_tag(exp_id, "stage", "dev")
    by_name = client.get_experiment_by_name(args["name"])
    found = client.search_experiments(filter_string=f"name = '{args['name']}'")
    return {
        "experiment_id": exp_id,
        "by_name": by_name.experiment_id,
        "tags": by_name.tags,
        "artifact_location": by_name.artifact_location,
        "searched": [e.experiment_id for e in found],
    }


def runs(args):
    mlflow.set_experiment(args["experiment"])
    with mlflow.start_run(run_name="train") as run:
        mlflow.log_param("alpha", "0.5")
        mlflow.log_params({"beta": 2, "gamma": "x"})
        for step in range(3):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metrics({"acc": 0.9, "f1": 0.8})
        mlflow.set_tag("kind", "test")
        run_id = run.info.run_id
    client = MlflowClient()
    got = client.get_run(run_id)
    history = client.get_metric_history(run_id, "loss")
    return {
        "run_id": run_id,
        "experiment_id": got.info.experiment_id,
        "status": got.info.status,
        "params": got.data.params,
        "metrics": got.data.metrics,
        "user": got.data.tags.get("mlflow.user"),
        "history": [m.value for m in history],
    }


def artifacts(args):
    mlflow.set_experiment(args["experiment"])
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "notes.txt"), "w") as f:
            f.write(args["text"])
        os.makedirs(os.path.join(tmp, "plots"))
        with open(os.path.join(tmp, "plots", "a.csv"), "w") as f:
            f.write("x,y\n1,2\n")
        with mlflow.start_run() as run:
            mlflow.log_artifact(os.path.join(tmp, "notes.txt"))
            mlflow.log_artifacts(os.path.join(tmp, "plots"), artifact_path="plots")
            mlflow.log_dict({"k": "v"}, "config.json")
            run_id = run.info.run_id
    client = MlflowClient()
    top = sorted(a.path for a in client.list_artifacts(run_id))
    plots = sorted(a.path for a in client.list_artifacts(run_id, "plots"))
    with tempfile.TemporaryDirectory() as dst:
        local = client.download_artifacts(run_id, "notes.txt", dst)
        with open(local) as f:
            downloaded = f.read()
        whole = mlflow.artifacts.download_artifacts(run_id=run_id, dst_path=os.path.join(dst, "all"))
        files = sorted(os.path.relpath(os.path.join(d, n), whole) for d, _, ns in os.walk(whole) for n in ns)
    return {"run_id": run_id, "top": top, "plots": plots, "downloaded": downloaded, "files": files}


def _model():
    from sklearn.linear_model import LinearRegression

    return LinearRegression().fit([[0.0], [1.0], [2.0]], [0.0, 2.0, 4.0])


def log_model(args):
    mlflow.set_experiment(args["experiment"])
    with mlflow.start_run() as run:
        info = mlflow.sklearn.log_model(_model(), name="model", input_example=[[3.0]])
        run_id = run.info.run_id
    loaded = mlflow.pyfunc.load_model(info.model_uri)
    by_run = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    client = MlflowClient()
    found = client.search_logged_models(experiment_ids=[client.get_run(run_id).info.experiment_id])
    return {
        "run_id": run_id,
        "model_id": info.model_id,
        "model_uri": info.model_uri,
        "prediction": float(loaded.predict([[3.0]])[0]),
        "by_run": float(by_run.predict([[4.0]])[0]),
        "searched": [m.model_id for m in found],
    }


def register(args):
    mlflow.set_experiment(args["experiment"])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(_model(), name="model")
    version = mlflow.register_model(info.model_uri, args["model"])
    client = MlflowClient()
    got = client.get_model_version(args["model"], version.version)
    client.set_registered_model_alias(args["model"], "champion", version.version)
    loaded = mlflow.pyfunc.load_model(f"models:/{args['model']}@champion")
    models = client.search_registered_models(filter_string=f"name = '{args['model']}'")
    return {
        "name": version.name,
        "version": version.version,
        "status": got.status,
        "prediction": float(loaded.predict([[5.0]])[0]),
        "searched": [m.name for m in models],
    }


def log_registered(args):
    """mlflow.<flavor>.log_model with registered_model_name: a logged model and a new version of the registered model."""
    mlflow.set_experiment(args["experiment"])
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(_model(), name="model", registered_model_name=args["model"])
    return {"version": str(info.registered_model_version), "model_id": info.model_id}


def registry_read(args):
    """What a reader of a registered model does: get it and a version, load it by version and alias, find it."""
    client = MlflowClient()
    name = args["model"]
    got = client.get_registered_model(name)
    version = client.get_model_version(name, args["version"])
    by_alias = client.get_model_version_by_alias(name, args["alias"]) if args.get("alias") else None
    loaded = mlflow.pyfunc.load_model(f"models:/{name}/{args['version']}")
    found = [m.name for m in client.search_registered_models()]
    versions = [(v.name, v.version) for v in client.search_model_versions(f"name = '{name}'")]
    return {
        "name": got.name,
        "status": version.status,
        "alias_version": by_alias.version if by_alias else None,
        "prediction": float(loaded.predict([[5.0]])[0]),
        "searched": found,
        "versions": versions,
    }


def registry_edit(args):
    """An editor's changes: a tag and an alias on the registered model, a tag and a description on a version."""
    client = MlflowClient()
    name = args["model"]
    client.set_registered_model_tag(name, "team", "ml")
    client.set_registered_model_alias(name, args["alias"], args["version"])
    client.set_model_version_tag(name, args["version"], "validated", "yes")
    client.update_model_version(name, args["version"], description="checked")
    got = client.get_registered_model(name)
    return {"tags": got.tags, "aliases": got.aliases}


def registry_manage(args):
    """What MANAGE adds: deleting an alias, a version, and renaming the registered model."""
    client = MlflowClient()
    name = args["model"]
    client.delete_registered_model_alias(name, args["alias"])
    client.delete_model_version(name, args["delete_version"])
    client.rename_registered_model(name, args["new_name"])
    return {"versions": sorted(v.version for v in client.search_model_versions(f"name = '{args['new_name']}'"))}


def get_registered(args):
    return {"name": MlflowClient().get_registered_model(args["model"]).name}


def search_registered(args):
    client = MlflowClient()
    names, pages, token = [], [], None
    while True:
        page = client.search_registered_models(max_results=args["page_size"], page_token=token)
        names += [m.name for m in page]
        pages.append(len(page))
        token = page.token
        if not token:
            return {"names": names, "pages": pages}


def collect_warnings(logger_name):
    """The warnings `logger_name` logs from now on, in `.messages` (an exporter logs a refused export instead of raising)."""
    import logging

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.WARNING)
            self.messages = []

        def emit(self, record):
            self.messages.append(record.getMessage())

    collected = Collect()
    logging.getLogger(logger_name).addHandler(collected)
    return collected


def trace(args):
    """@mlflow.trace in an experiment (by id), then the trace read back and searched, with what the span
    exporter reported (it logs a refused export instead of raising)."""
    collected = collect_warnings("mlflow.tracing")
    # As a served model sets it: the experiment without asking the server (a caller with no grant gets this far).
    os.environ["MLFLOW_EXPERIMENT_ID"] = args["experiment_id"]

    @mlflow.trace(name="predict")
    def predict(x):
        return inner(x) + 1

    @mlflow.trace
    def inner(x):
        return x * 2

    out = predict(20)
    trace_id = mlflow.get_last_active_trace_id()
    if hasattr(mlflow, "flush_trace_async_logging"):
        mlflow.flush_trace_async_logging()
    result = {"output": out, "trace_id": trace_id, "export_errors": collected.messages}
    try:
        got = mlflow.get_trace(trace_id)
        found = mlflow.search_traces(locations=[args["experiment_id"]], return_type="list")
    except MlflowException as e:
        return {**result, "read_error": e.error_code}
    return {
        **result,
        "spans": sorted(s.name for s in got.data.spans) if got else None,
        "searched": [t.info.trace_id for t in found],
    }


def read_traces(args):
    """What a reader does with traces of an experiment: get one (when named), search them."""
    got = mlflow.get_trace(args["trace_id"]) if args.get("trace_id") else None
    found = mlflow.search_traces(locations=[args["experiment_id"]], return_type="list")
    return {
        "spans": sorted(s.name for s in got.data.spans) if got else None,
        "searched": [t.info.trace_id for t in found],
    }


def otlp_export(args):
    """Spans as the OpenTelemetry Collector sends them: the OTLP/HTTP protobuf exporter, gzipped, to the BFF's
    /mlflow/v1/traces with the user's token and X-Mlflow-Experiment-Id; the spans carry args["trace_id"] (hex)
    when given, else a new trace id. The exporter logs a refusal instead of raising: its messages are returned."""
    import random

    from opentelemetry import trace as otel
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    collected = collect_warnings("opentelemetry.exporter.otlp")
    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    context = None
    if args.get("trace_id"):
        # A span of an existing trace, as a distributed trace continues one (its parent in another process).
        parent = otel.SpanContext(int(args["trace_id"], 16), random.getrandbits(64), is_remote=True, trace_flags=otel.TraceFlags(1))
        context = otel.set_span_in_context(otel.NonRecordingSpan(parent))
    tracer = provider.get_tracer("otlp-client")
    with tracer.start_as_current_span(args["name"], context=context):
        with tracer.start_as_current_span(args["name"] + "-child"):
            pass
    endpoint = os.environ["MLFLOW_TRACKING_URI"] + "/v1/traces"
    headers = {"Authorization": "Bearer " + os.environ["MLFLOW_TRACKING_TOKEN"], "X-Mlflow-Experiment-Id": args["experiment_id"]}
    exporter = OTLPSpanExporter(
        endpoint=endpoint,
        headers=headers,
        compression=Compression.Gzip,
        timeout=60,
    )
    finished = spans.get_finished_spans()
    result = exporter.export(finished)
    out = {"result": result.name, "trace_id": format(finished[0].context.trace_id, "032x"), "messages": collected.messages}
    if result.name != "SUCCESS":
        # The exporter logs the status only: the same request (its encoder, gzip) sent once more for the answer's body.
        import gzip

        import requests
        from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

        answer = requests.post(
            endpoint,
            data=gzip.compress(encode_spans(finished).SerializeToString()),
            headers={**headers, "Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            timeout=60,
        )
        out["status"] = answer.status_code
        out["error_code"] = answer.json().get("error_code")
    return out


def paginate(args):
    client = MlflowClient()
    exp = client.get_experiment_by_name(args["experiment"])
    run_ids = []
    token = None
    pages = []
    while True:
        page = client.search_runs([exp.experiment_id], max_results=args["page_size"], page_token=token)
        pages.append(len(page))
        run_ids += [r.info.run_id for r in page]
        token = page.token
        if not token:
            break
    exps = []
    token = None
    while True:
        page = client.search_experiments(max_results=args["page_size"], page_token=token)
        exps += [e.experiment_id for e in page]
        token = page.token
        if not token:
            break
    return {"pages": pages, "run_ids": run_ids, "experiments": exps}


def create_runs(args):
    client = MlflowClient()
    exp = client.get_experiment_by_name(args["experiment"])
    return {"run_ids": [client.create_run(exp.experiment_id).info.run_id for _ in range(args["count"])]}


def get_experiment(args):
    exp = MlflowClient().get_experiment(args["experiment_id"])
    return {"name": exp.name}


def get_run(args):
    return {"run_id": MlflowClient().get_run(args["run_id"]).info.run_id}


def log_metric(args):
    MlflowClient().log_metric(args["run_id"], "m", 1.0)
    return {}


def _outcome(fn):
    """What one call did: {"ok": True, "value": ...} or the error the client raised, with MLflow's error_code if it has one."""
    try:
        return {"ok": True, "value": fn()}
    except Exception as e:  # an artifact upload raises requests' HTTPError, not an MlflowException
        return {"ok": False, "error_code": getattr(e, "error_code", None), "error": f"{type(e).__name__}: {str(e)[:300]}"}


def long_run(args):
    """A job longer than its token's life: one metric every interval_s for duration_s, then an artifact, the
    run's end and its history read back. The caller's auth is the environment's (MLFLOW_TRACKING_AUTH=platform-bff,
    or MLFLOW_TRACKING_TOKEN). With static_token, the job starts as a CI script would: one client-credentials
    token fetched at its start and put in MLFLOW_TRACKING_TOKEN for the rest of the job; its exp is returned."""
    import requests

    result = {}
    if args.get("static_token"):
        t = args["static_token"]
        form = {"grant_type": "client_credentials", "client_id": t["client_id"], "client_secret": t["client_secret"]}
        token = requests.post(t["token_url"], data=form, timeout=30).json()["access_token"]
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
        payload = token.split(".")[1]
        result["token_exp"] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    client = MlflowClient()
    exp_id = args.get("experiment_id") or client.create_experiment(args["experiment"])
    run_id = client.create_run(exp_id).info.run_id
    calls = []
    started = time.time()
    step = 0
    while time.time() - started < args["duration_s"]:
        at = time.time()
        calls.append({"at": at, **_outcome(lambda: client.log_metric(run_id, "loss", 1.0 / (step + 1), step=step))})
        step += 1
        time.sleep(args["interval_s"])
    result.update(
        experiment_id=exp_id,
        run_id=run_id,
        calls=[{k: v for k, v in c.items() if k != "value"} for c in calls],
        artifact=_outcome(lambda: client.log_text(run_id, "trained", "result.txt")),
        end=_outcome(lambda: client.set_terminated(run_id)),
        history=_outcome(lambda: len(client.get_metric_history(run_id, "loss"))),
    )
    return result


def register_prompt(args):
    """mlflow.genai.register_prompt: the prompt's first version makes its registered model; each call adds a version."""
    versions = [mlflow.genai.register_prompt(name=args["name"], template=t).version for t in args["templates"]]
    loaded = mlflow.genai.load_prompt(f"prompts:/{args['name']}/{versions[-1]}")
    return {"versions": versions, "template": loaded.template}


def scorers(args):
    """mlflow.genai's registered scorers, each step's outcome: a built-in Guidelines judge registered twice (two
    versions), listed, got, version 1 deleted, then the scorer ("all"); a @scorer function's registration (MLflow's own
    server refuses custom code unless its operator allows it). Steps not asked for are skipped."""
    from mlflow.genai.scorers import Guidelines, delete_scorer, get_scorer, list_scorers, scorer

    exp, name = args["experiment_id"], args["name"]

    @scorer
    def short(outputs) -> bool:
        return len(str(outputs)) < 100

    def register():
        return [Guidelines(name=name, guidelines=[g]).register(name=name, experiment_id=exp).name for g in ["Be polite.", "Be brief."]]

    steps = {
        "register": register,
        "list": lambda: sorted(s.name for s in list_scorers(experiment_id=exp)),
        "get": lambda: get_scorer(name=name, experiment_id=exp).guidelines,
        "get_v1": lambda: get_scorer(name=name, experiment_id=exp, version=1).guidelines,
        "delete_v1": lambda: delete_scorer(name=name, experiment_id=exp, version=1),
        "delete": lambda: delete_scorer(name=name, experiment_id=exp, version="all"),
        "decorated": lambda: short.register(name="short", experiment_id=exp).name,
    }
    steps["list_after"] = steps["list"]
    return {step: _outcome(steps[step]) for step in args["steps"]}


def webhooks(args):
    """MlflowClient's webhooks, each step's outcome: create, list, get, update, test (a delivery to args["url"]), delete."""
    client = MlflowClient()
    made = {}

    def create():
        made["id"] = client.create_webhook(name=args["name"], url=args["url"], events=["model_version.created"], secret="py-secret").webhook_id
        return made["id"]

    webhook_id = lambda: made.get("id") or args.get("webhook_id")
    steps = {
        "create": create,
        "list": lambda: [w.name for w in client.list_webhooks(max_results=50)],
        "get": lambda: client.get_webhook(webhook_id()).url,
        "update": lambda: client.update_webhook(webhook_id(), description="updated", status="DISABLED").status.value,
        "test": lambda: client.test_webhook(webhook_id()).success,
        "delete": lambda: client.delete_webhook(webhook_id()),
    }
    steps["get_after"] = steps["get"]
    return {step: _outcome(steps[step]) for step in args["steps"]}


SCENARIOS = {
    f.__name__: f
    for f in [
        experiments,
        runs,
        artifacts,
        log_model,
        register,
        log_registered,
        registry_read,
        registry_edit,
        registry_manage,
        get_registered,
        search_registered,
        trace,
        read_traces,
        otlp_export,
        paginate,
        create_runs,
        get_experiment,
        get_run,
        log_metric,
        long_run,
        register_prompt,
        scorers,
        webhooks,
        *DATASET_SCENARIOS,
    ]
}

if __name__ == "__main__":
    scenario = SCENARIOS[sys.argv[1]]
    arguments = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    try:
        result = scenario(arguments)
    except MlflowException as e:
        result = {"error": {"error_code": e.error_code, "message": str(e)[:500]}}
    print("RESULT " + json.dumps(result), flush=True)
