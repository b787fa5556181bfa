"""A reviewer at a real Label Studio, through label-studio-sdk (run with Label Studio's own Python: its
dependencies conflict with the project's pins, so it lives in a virtual environment of its own).

    python labelstudio_reviewer.py URL TOKEN CONFIG.xml TASKS.json PLAN.json EXPORT.json

Creates a project with the labelling config, imports the tasks (text and predictions), then for each task
does what PLAN says by ``data.smallext_id``: ``{"accept": true}`` submits the prediction's result as it is,
``{"result": [...]}`` submits a corrected result, ``{"skip": true}`` skips the task (a cancelled annotation);
tasks PLAN does not name are left unannotated. Finally writes the project's JSON export (all tasks).
"""

import json
import sys
from pathlib import Path

from label_studio_sdk import LabelStudio


def main(url: str, token: str, config: str, tasks: str, plan: str, export: str) -> None:
    ls = LabelStudio(base_url=url, api_key=token)
    project = ls.projects.create(title="smallext review", label_config=Path(config).read_text(encoding="utf-8"))
    ls.projects.import_tasks(project.id, request=json.loads(Path(tasks).read_text(encoding="utf-8")))
    todo = json.loads(Path(plan).read_text(encoding="utf-8"))
    for task in ls.tasks.list(project=project.id, fields="all"):
        step = todo.get(task.data["smallext_id"])
        if step is None:
            continue
        if step.get("skip"):
            ls.annotations.create(id=task.id, result=[], was_cancelled=True)
            continue
        if step.get("accept"):
            result = [dict(r, origin="prediction") for r in task.predictions[0].result]
        else:
            result = step["result"]
        ls.annotations.create(id=task.id, result=result, was_cancelled=False, lead_time=3.5)
    data = b"".join(ls.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True))
    Path(export).write_bytes(data)


if __name__ == "__main__":
    main(*sys.argv[1:7])
