-- RFM inputs per customer: recency (days from the last purchase to the latest invoice in the data,
-- the "as of" day), frequency (distinct sale invoices) and monetary (net revenue of sale and
-- cancellation lines). Customers without a sale are left out. The same definitions as the
-- Redshift view customer_rfm. Athena (Trino) SQL over the Glue table ecomflow.sales.
WITH as_of AS (
    SELECT CAST(MAX(invoice_ts) AS DATE) AS as_of_date
    FROM ecomflow.sales
),
per_customer AS (
    SELECT
        customer_id,
        MAX(CASE WHEN line_type = 'sale' THEN invoice_ts END)                            AS last_purchase_ts,
        COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END)                 AS frequency,
        SUM(CASE WHEN line_type IN ('sale', 'cancellation') THEN revenue ELSE 0 END)     AS monetary
    FROM ecomflow.sales
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT
    p.customer_id,
    p.last_purchase_ts,
    a.as_of_date,
    date_diff('day', CAST(p.last_purchase_ts AS DATE), a.as_of_date) AS recency_days,
    p.frequency,
    p.monetary
FROM per_customer AS p
CROSS JOIN as_of AS a
WHERE p.frequency > 0
ORDER BY p.customer_id
