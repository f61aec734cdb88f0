-- Cancellation rate per month: cancelled invoices / (sale invoices + cancelled invoices), and the
-- value cancelled (a positive amount). Athena (Trino) SQL over the Glue table ecomflow.sales.
SELECT
    year,
    month,
    COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END)         AS sale_invoices,
    COUNT(DISTINCT CASE WHEN line_type = 'cancellation' THEN invoice_no END) AS cancelled_invoices,
    ROUND(
        CAST(COUNT(DISTINCT CASE WHEN line_type = 'cancellation' THEN invoice_no END) AS DOUBLE)
        / NULLIF(COUNT(DISTINCT CASE WHEN line_type IN ('sale', 'cancellation') THEN invoice_no END), 0),
        4)                                                                   AS cancellation_rate,
    -SUM(CASE WHEN line_type = 'cancellation' THEN revenue ELSE 0 END)       AS cancelled_value
FROM ecomflow.sales
GROUP BY year, month
ORDER BY year, month
