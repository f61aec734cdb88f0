"""EcomFlow: AWS Glue ETL suite for the UCI Online Retail data set."""

__version__ = "0.1.0"
