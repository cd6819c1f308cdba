"""The app's pages, in menu order: (script, title, icon). No Streamlit calls here, so the tests and
the benchmark can list the pages without running the app."""

PAGES = [
    ("pages/overview.py", "Overview", ":material/dashboard:"),
    ("pages/sales.py", "Sales trends", ":material/trending_up:"),
    ("pages/weekly.py", "Weekly report", ":material/summarize:"),
    ("pages/funnel.py", "Funnel and paths", ":material/filter_list:"),
    ("pages/search.py", "Search", ":material/search:"),
    ("pages/customers.py", "Customers", ":material/groups:"),
    ("pages/segments.py", "Segment picker", ":material/filter_alt:"),
    ("pages/inventory.py", "Inventory", ":material/inventory_2:"),
    ("pages/forecasts.py", "Forecasts", ":material/query_stats:"),
    ("pages/basket.py", "Basket", ":material/shopping_basket:"),
    ("pages/stores.py", "Stores and IoT", ":material/sensors:"),
]
