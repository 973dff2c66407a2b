"""MLflow 3's evaluation datasets (mlflow.genai.datasets) with the real Python client: scenarios of client.py."""

import mlflow
from mlflow.genai import datasets


def _summary(ds):
    records = ds.to_df()
    return {
        "dataset_id": ds.dataset_id,
        "name": ds.name,
        "created_by": ds.created_by,
        "last_updated_by": ds.last_updated_by,
        "tags": ds.tags,
        "records": len(records),
        "record_users": sorted({(t or {}).get("mlflow.user") for t in records["tags"]}) if len(records) else [],
    }


def dataset_create(args):
    """create_dataset in the active experiment, then merge_records: what a user building an evaluation set does."""
    mlflow.set_experiment(experiment_id=args["experiment_id"])
    ds = datasets.create_dataset(name=args["name"], tags={"team": "ml"})
    ds.merge_records([{"inputs": {"question": q}, "expectations": {"answer": a}} for q, a in args["records"]])
    return _summary(datasets.get_dataset(dataset_id=ds.dataset_id))


def dataset_read(args):
    return _summary(datasets.get_dataset(dataset_id=args["dataset_id"]))


def dataset_edit(args):
    """An editor's changes: more records (one of them an update of an existing input) and a tag."""
    ds = datasets.get_dataset(dataset_id=args["dataset_id"])
    ds.merge_records([{"inputs": {"question": q}, "expectations": {"answer": a}} for q, a in args["records"]])
    datasets.set_dataset_tags(dataset_id=args["dataset_id"], tags={"stage": "reviewed"})
    return _summary(datasets.get_dataset(dataset_id=args["dataset_id"]))


def dataset_delete(args):
    datasets.delete_dataset(dataset_id=args["dataset_id"])
    return {}


def dataset_search(args):
    """search_datasets in pages of page_size (the client asks page after page): the names found, in order."""
    found = datasets.search_datasets(experiment_ids=args["experiment_ids"], max_results=args.get("max_results"))
    return {"names": [d.name for d in found]}


DATASET_SCENARIOS = [dataset_create, dataset_read, dataset_edit, dataset_delete, dataset_search]
