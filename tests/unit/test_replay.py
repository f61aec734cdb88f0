"""ecomflow replay: batches, pacing, and rows the API refuses reported, never dropped quietly."""

from __future__ import annotations

import json

from ecomflow.replay import replay_file

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
ROW = "536365,85123A,HEART,{q},12/1/2010 8:26,2.55,17850,United Kingdom"


def test_replay_posts_batches_and_reports_refused_rows(tmp_path):
    path = tmp_path / "in.csv"
    rows = [ROW.format(q=i) for i in range(1, 6)] + ["536365,85123A,SHORT,1"] + [ROW.format(q="x")]
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="latin-1")
    posted: list[list[dict]] = []

    def post(url, body):
        records = json.loads(body)["records"]
        posted.append(records)
        bad = [{"record": i, "errors": ["Quantity 'x' is not a whole number"]}
               for i, r in enumerate(records) if r["Quantity"] == "x"]
        return (400, {"message": "invalid", "errors": bad}) if bad else (202, {"accepted": len(records)})

    clock = iter(range(100)).__next__
    waits: list[float] = []
    stats = replay_file(path, "http://api", rate=2, batch_size=4, progress=False, post=post,
                        clock=lambda: float(clock()), sleep=waits.append)
    assert [len(p) for p in posted] == [4, 2, 1]
    assert stats.to_dict() == {"read": 7, "accepted": 5, "rejected": 2, "requests": 3, "rejected_lines": [7, 8]}
    assert waits  # paced to 2 rows a second
