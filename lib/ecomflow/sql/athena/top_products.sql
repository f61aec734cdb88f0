-- Top 10 products by net revenue: their sale lines less their cancellations (postage, fees,
-- adjustments and stock adjustments are no product sales). Each product is named by its most
-- frequent description on sale lines. Athena (Trino) SQL over the Glue table ecomflow.sales.
WITH product_lines AS (
    SELECT stock_code, description, invoice_no, line_type, quantity, revenue
    FROM ecomflow.sales
    WHERE line_type IN ('sale', 'cancellation')
),
names AS (
    SELECT stock_code,
           description,
           ROW_NUMBER() OVER (PARTITION BY stock_code ORDER BY COUNT(*) DESC, description) AS name_rank
    FROM product_lines
    WHERE line_type = 'sale' AND description IS NOT NULL
    GROUP BY stock_code, description
),
totals AS (
    SELECT stock_code,
           SUM(quantity)                                                   AS units,
           COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END) AS invoices,
           SUM(revenue)                                                    AS revenue
    FROM product_lines
    GROUP BY stock_code
    HAVING COUNT(CASE WHEN line_type = 'sale' THEN 1 END) > 0
)
SELECT t.stock_code,
       n.description,
       t.units,
       t.invoices,
       t.revenue
FROM totals t
LEFT JOIN names n ON n.stock_code = t.stock_code AND n.name_rank = 1
ORDER BY t.revenue DESC, t.stock_code
LIMIT 10
