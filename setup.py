"""EcomFlow: an AWS Glue PySpark ETL suite for the UCI Online Retail data set.

The package `ecomflow` lives in `lib/`. Exact versions for a local environment are pinned in
`requirements.lock`; the ranges here are what the library itself needs.
"""

from setuptools import find_packages, setup

GLUE_RUNTIME = [  # present in AWS Glue 5.1; pinned to its versions
    "pyspark==3.5.6",
    "awsgluedataplanepython==5.1.0",
    "boto3>=1.34",
]

setup(
    name="ecomflow",
    version="0.1.0",
    description="AWS Glue ETL suite for ecommerce analytics (UCI Online Retail)",
    python_requires=">=3.11,<3.12",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    package_data={"ecomflow": ["sql/**/*.sql", "py.typed"]},
    include_package_data=True,
    install_requires=GLUE_RUNTIME + [
        "great-expectations==1.24.1",
        "duckdb==2.0.1",
        "psycopg[binary]==3.3.9",
        "rich==15.0.0",
        "aws-lambda-powertools==3.37.0",
        "moto[server]==5.2.5",
    ],
    extras_require={
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
        "dev": ["cfn-lint==1.58.0", "checkov==3.1.47"],
    },
    entry_points={"console_scripts": ["ecomflow=ecomflow.cli:main"]},
)
