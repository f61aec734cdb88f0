-- Monthly revenue: sale invoices, customers, gross sales, cancellations and net revenue per month.
-- Athena (Trino) SQL over the Glue table ecomflow.sales. Net revenue is every line's revenue
-- (cancellations and adjustments carry their own sign).
SELECT
    year,
    month,
    COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END)       AS invoices,
    COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN customer_id END)      AS customers,
    SUM(CASE WHEN line_type = 'sale' THEN revenue ELSE 0 END)              AS gross_revenue,
    SUM(CASE WHEN line_type = 'cancellation' THEN revenue ELSE 0 END)      AS cancelled_revenue,
    SUM(revenue)                                                           AS net_revenue
FROM ecomflow.sales
GROUP BY year, month
ORDER BY year, month
