"""Hadoop's FileSystem from the driver: the same calls on file://, s3:// and hdfs:// (staging folders, the ledger)."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from ecomflow.errors import PublishError


class HadoopFs:
    """Thin wrapper over Hadoop's FileSystem: the same calls work on file://, s3:// and hdfs://."""

    def __init__(self, spark: SparkSession) -> None:
        self._jvm: Any = spark.sparkContext._jvm  # py4j: untyped
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str):  # noqa: ANN202 - a py4j Path
        path = self._jvm.org.apache.hadoop.fs.Path(uri)
        return path, path.getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        path, fs = self._path(uri)
        return bool(fs.exists(path))

    def delete(self, uri: str) -> None:
        path, fs = self._path(uri)
        if fs.exists(path):
            fs.delete(path, True)

    def move(self, src: str, dst: str) -> None:
        """Move `src` to `dst`, creating the parent of `dst`; raises PublishError on failure."""
        src_path, fs = self._path(src)
        dst_path, _ = self._path(dst)
        fs.mkdirs(dst_path.getParent())
        if not fs.rename(src_path, dst_path):
            raise PublishError(f"could not move {src} to {dst}")

    def list_dirs(self, uri: str, depth: int) -> list[str]:
        """Relative paths of the directories `depth` levels below `uri` (hidden ones skipped)."""
        path, fs = self._path(uri)
        if not fs.exists(path):
            return []
        found = [""]
        for _ in range(depth):
            deeper = []
            for rel in found:
                base = self._jvm.org.apache.hadoop.fs.Path(f"{uri}/{rel}" if rel else uri)
                for status in fs.listStatus(base):
                    name = status.getPath().getName()
                    if status.isDirectory() and not name.startswith(("_", ".")):
                        deeper.append(f"{rel}/{name}" if rel else name)
            found = deeper
        return sorted(found)
