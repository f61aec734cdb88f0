-- Views for BI tools (Power BI, Tableau). Valid on Amazon Redshift and on PostgreSQL 15.
-- Revenue is net: cancellations carry negative quantities, so they subtract.

-- Daily revenue by country: invoices, units and net revenue per calendar day of the invoice.
CREATE OR REPLACE VIEW daily_revenue_by_country AS
SELECT
    CAST(invoice_ts AS DATE)                                             AS sales_date,
    country,
    COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END)     AS invoices,
    COUNT(DISTINCT CASE WHEN line_type = 'cancellation' THEN invoice_no END) AS cancelled_invoices,
    SUM(quantity)                                                        AS units,
    SUM(CASE WHEN line_type = 'sale' THEN revenue ELSE 0 END)            AS gross_revenue,
    SUM(revenue)                                                         AS net_revenue
FROM sales
GROUP BY CAST(invoice_ts AS DATE), country;

-- Customer summary for RFM: recency in days before the latest invoice in the table (the data
-- set's "as of" day), frequency as distinct sale invoices, monetary as net revenue of product
-- lines (sales minus cancellations). Customers without a sale are left out.
CREATE OR REPLACE VIEW customer_rfm AS
WITH as_of AS (
    SELECT CAST(MAX(invoice_ts) AS DATE) AS as_of_date FROM sales
),
per_customer AS (
    SELECT
        customer_id,
        MIN(CASE WHEN line_type = 'sale' THEN invoice_ts END)                    AS first_purchase_ts,
        MAX(CASE WHEN line_type = 'sale' THEN invoice_ts END)                    AS last_purchase_ts,
        COUNT(DISTINCT CASE WHEN line_type = 'sale' THEN invoice_no END)         AS frequency,
        COUNT(DISTINCT CASE WHEN line_type = 'cancellation' THEN invoice_no END) AS cancelled_invoices,
        SUM(CASE WHEN line_type IN ('sale', 'cancellation') THEN revenue ELSE 0 END) AS monetary
    FROM sales
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT
    p.customer_id,
    p.first_purchase_ts,
    p.last_purchase_ts,
    a.as_of_date,
    a.as_of_date - CAST(p.last_purchase_ts AS DATE) AS recency_days,
    p.frequency,
    p.cancelled_invoices,
    p.monetary
FROM per_customer AS p
CROSS JOIN as_of AS a
WHERE p.frequency > 0;
