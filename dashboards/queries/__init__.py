"""One module of queries per page: plain functions of the ``Marts`` and the ``Filters``, returning
polars frames or numbers (no Streamlit, so the tests call them directly)."""

# orders with the region of the store that took or fulfils them (every order has one)
ORDERS = "(SELECT o.*, s.region FROM marts.fct_orders o LEFT JOIN marts.dim_store s USING (store_id))"
