"""The child process of `jvm_archive.build`: a small batch job run with the class archive recorded at exit.

Apart from `ecomflow.local.jvm_archive` (which the runtime adapter reads for the archive's path) so that
the adapter does not import the batch pipeline it serves: `python -m ecomflow.devtools.jvm_archive_dump --dump PATH`.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from typing import Any

from ecomflow.local.jvm_archive import DUMP_TIMEOUT_S, SAMPLE_ROWS


def dump(partial: str) -> int:
    """The child: run a small batch job with the archive recorded at exit, and wait for the JVM."""
    from ecomflow.app.batch_job import publish_gate
    from ecomflow.config import BatchConfig, to_uri
    from ecomflow.devtools.generate import generate_file
    from ecomflow.local.localstack import stack_environment, temporary_stack
    from ecomflow.local.spark import LOCAL_SETTINGS
    from ecomflow.pipelines.batch import run_batch
    from ecomflow.runtime import build_runtime

    options = (f"{LOCAL_SETTINGS['spark.driver.extraJavaOptions']} -Xlog:cds*=error:stderr "
               f"-XX:ArchiveClassesAtExit={partial}")
    # The lake's catalog needs PostgreSQL: a stack of its own, gone with the sample (`make setup`
    # leaves nothing running).
    with tempfile.TemporaryDirectory(prefix="ecomflow-jvm-archive-") as scratch, temporary_stack() as stack, \
            stack_environment(stack):
        sample = os.path.join(scratch, "sample.csv.gz")
        generate_file(sample, SAMPLE_ROWS, seed=1)
        runtime = build_runtime("jvm-archive", extra={"spark.driver.extraJavaOptions": options})
        config = BatchConfig(input_uri=to_uri(sample), lake_uri=to_uri(os.path.join(scratch, "lake")))
        run_batch(runtime, config, gate=publish_gate(config))
        jvm: Any = runtime.spark.sparkContext._gateway.proc  # type: ignore[union-attr]  # the driver JVM
        runtime.spark.stop()
        jvm.stdin.close()  # the gateway server exits when its stdin closes; the archive is dumped then
        return jvm.wait(timeout=DUMP_TIMEOUT_S)



if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)  # the sample job's own logging is noise here
    sys.exit(dump(sys.argv[sys.argv.index("--dump") + 1]))
