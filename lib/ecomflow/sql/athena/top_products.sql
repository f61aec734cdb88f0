-- Top 10 products by sales revenue (sale lines only: no cancellations, postage or fees).
-- Athena (Trino) SQL over the Glue table ecomflow.sales.
SELECT
    stock_code,
    MAX(description)           AS description,
    SUM(quantity)              AS units,
    COUNT(DISTINCT invoice_no) AS invoices,
    SUM(revenue)               AS revenue
FROM ecomflow.sales
WHERE line_type = 'sale'
GROUP BY stock_code
ORDER BY revenue DESC, stock_code
LIMIT 10
