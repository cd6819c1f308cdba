def main() -> None:
    print("smartmall")
