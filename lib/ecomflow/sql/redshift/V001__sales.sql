-- The sales fact table: one row per curated line, upserted by record_id (staging table + MERGE).
-- Valid on Amazon Redshift and on PostgreSQL 15 (the local stand-in). The column order is the order
-- of the columns in the curated parquet files (year and month are folder names there), so that
-- COPY ... FORMAT AS PARQUET can load a staging table created LIKE this one.
-- Text between /*redshift: and */ is a comment on PostgreSQL and is applied on Redshift.
CREATE TABLE IF NOT EXISTS sales (
    record_id   VARCHAR(64)    NOT NULL,
    invoice_no  VARCHAR(32)    NOT NULL,
    stock_code  VARCHAR(64)    NOT NULL,
    description VARCHAR(1024),
    quantity    INTEGER        NOT NULL,
    unit_price  DECIMAL(12,3)  NOT NULL,
    revenue     DECIMAL(18,3)  NOT NULL,
    invoice_ts  TIMESTAMP      NOT NULL,
    customer_id VARCHAR(32),
    country     VARCHAR(128)   NOT NULL,
    line_type   VARCHAR(32)    NOT NULL,
    source      VARCHAR(1024)  NOT NULL,
    ingested_at TIMESTAMP      NOT NULL,
    PRIMARY KEY (record_id)
)
/*redshift: DISTKEY (record_id) SORTKEY (invoice_ts) */;
