-- Net revenue by country, with customers, sale invoices and the country's share of all net revenue.
-- Athena (Trino) SQL over the Glue table ecomflow.sales.
SELECT
    country,
    COUNT(DISTINCT customer_id)                                         AS customers,
    COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END)    AS invoices,
    SUM(revenue)                                                        AS net_revenue,
    ROUND(CAST(SUM(revenue) AS DOUBLE) / CAST(SUM(SUM(revenue)) OVER () AS DOUBLE), 4) AS revenue_share
FROM ecomflow.sales
GROUP BY country
ORDER BY net_revenue DESC, country
