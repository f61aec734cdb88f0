"""EcomFlow: an AWS Glue PySpark ETL suite for the UCI Online Retail data set.

The package `ecomflow` lives in `lib/`. Exact versions for a local environment are pinned in
`requirements.lock`; the ranges here are what the library itself needs.
"""

from setuptools import find_packages, setup

# Unconditional requirements: what the job code imports in Glue and Glue 5.1 does not provide.
# Nothing: Glue provides pyspark, awsglue, boto3 and their dependencies, and the Lambda runtime boto3.
# A wheel installed into Glue (`--additional-python-modules`) must not pull a second Spark or
# shadow Glue's own `awsglue` (tests/unit/test_packaging.py reads the built wheel's metadata).
INSTALL_REQUIRES: list[str] = []

# Present in AWS Glue 5.1 (and pinned to its versions): only what runs Glue's code elsewhere.
GLUE_PROVIDED = [
    "pyspark==3.5.6",
    "awsgluedataplanepython==5.1.0",
    "boto3>=1.34",
]
# The batch job's quality gate: the one thing the Glue jobs add (`--additional-python-modules`).
GATE = ["great-expectations==1.24.1"]
# The Lambdas: Powertools and pydantic, which validates their routes (pydantic pins its pydantic-core itself).
LAMBDA = ["aws-lambda-powertools==3.37.0", "pydantic==2.14.4"]  # the Lambda runtime has boto3

setup(
    name="ecomflow",
    version="0.1.0",
    description="AWS Glue ETL suite for ecommerce analytics (UCI Online Retail)",
    python_requires=">=3.11,<3.12",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"ecomflow": ["sql/**/*.sql", "py.typed"]},
    include_package_data=True,
    install_requires=INSTALL_REQUIRES,
    extras_require={
        "glue": GATE,
        "lambda": LAMBDA,
        # The laptop: Spark and Glue's Python interface, the local stand-ins (moto server, PostgreSQL
        # client, DuckDB for Athena) and the CLI. `make setup` installs it, pinned (requirements.lock).
        "local": [*GLUE_PROVIDED, *GATE, *LAMBDA, "duckdb==2.0.1", "psycopg[binary]==3.3.9", "rich==15.0.0",
                  "moto[server]==5.2.5",
                  # Readers of the lake's Iceberg tables outside Spark (DuckDB, notebooks): the committed
                  # snapshot's files, from the catalog's rows in the local PostgreSQL.
                  "pyiceberg[pyarrow]==0.12.0", "SQLAlchemy==2.1.9"],
        "test": [
            "pytest==9.2.0",
            "pytest-timeout==2.4.0",
            "chispa==0.12.0",
            "nbclient==0.11.0",
            "papermill==2.7.0",
            "ipykernel==7.4.0",
            "matplotlib==3.11.2",
            "pandas==2.2.3",
            "pyarrow==26.0.1",
        ],
        "dev": ["cfn-lint==1.58.0", "checkov==3.1.47", "wheel==0.45.1", "import-linter==2.17",
                "ruff==0.17.6", "mypy==2.4.1"],
    },
    entry_points={
        "console_scripts": ["ecomflow=ecomflow.cli.main:main"],
        # Local stand-ins the product names but never imports (ecomflow.plugins).
        "ecomflow.spark_sessions": ["local=ecomflow.local.spark:local_session"],
        "ecomflow.stream_sources": ["shard-poller=ecomflow.local.stream_runner:run_local_stream"],
        "ecomflow.redshift_targets": ["postgres=ecomflow.local.postgres_target:PostgresTarget"],
        "ecomflow.iceberg_catalogs": ["local=ecomflow.local.iceberg:register_catalog"],
    },
)
