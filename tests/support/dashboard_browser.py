#!/usr/bin/python3
"""Drives heraldd's dashboard in headless Chromium at a phone's size, as a person would.

dashboard_browser.py --url URL --token TOKEN --running TASK_ID --items-task TASK_ID
                     --dead N --screenshot PATH

Run by tests/e2e/dashboard_test.cpp against the heraldd it started (a long `sleep` job
running, a finished import with item outcomes, N dead letters). Opens the page at 390x844, enters the token,
and checks: the dead-letter count shown is N; the running task's progress bar advances between
two reads; a click on the other task lists its item outcomes (printed, for the caller to
check); the browser logged no error. Saves a screenshot to PATH (and one with the items open
beside it). Prints what failed and exits 1 on a failure."""
import argparse
import json
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--running", required=True)
    ap.add_argument("--items-task", required=True)
    ap.add_argument("--dead", required=True)
    ap.add_argument("--screenshot", required=True)
    args = ap.parse_args()

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-extensions", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2},
        "userAgent": "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
                     "Chrome/120 Mobile Safari/537.36",
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    failures = []
    try:
        driver.set_page_load_timeout(30)
        driver.get(args.url)
        wait = WebDriverWait(driver, 20)

        # The queue figures come without a token.
        wait.until(lambda d: d.find_element(By.ID, "dead-count").text.strip() not in ("", "–"))
        dead = driver.find_element(By.ID, "dead-count").text.strip()
        if dead != args.dead:
            failures.append(f"dead-letter count shows {dead!r}, expected {args.dead!r}")
        width = driver.execute_script("return document.documentElement.clientWidth")
        if width != 390:
            failures.append(f"viewport is {width} px wide, expected 390")
        scroll = driver.execute_script("return document.documentElement.scrollWidth")
        if scroll > width:
            failures.append(f"the page scrolls sideways on a phone: {scroll} px in {width}")

        # The token shows the account's tasks.
        driver.find_element(By.ID, "token").send_keys(args.token)
        driver.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        bar_selector = f'li[data-task-id="{args.running}"] progress'
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, bar_selector)))
        stored = driver.execute_script("return sessionStorage.getItem('herald.token')")
        if stored != args.token:
            failures.append("the token is not kept in sessionStorage")

        def bar_value():
            return float(driver.find_element(By.CSS_SELECTOR, bar_selector).get_attribute("value"))

        first = bar_value()
        deadline = time.time() + 15
        second = first
        while time.time() < deadline and second <= first:
            time.sleep(0.5)
            second = bar_value()
        if second <= first:
            failures.append(f"the running task's progress bar stayed at {first} for 15 s")
        else:
            print(f"progress bar advanced from {first} to {second}")

        # Let the providers' row and figures settle, then the screenshot the README points at.
        time.sleep(1.5)
        save_screenshot(driver, args.screenshot)

        # A click on the finished task lists its item outcomes.
        row = driver.find_element(By.CSS_SELECTOR, f'li[data-task-id="{args.items_task}"]')
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
        row.click()
        try:
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#items li .index")) > 0)
        except Exception:
            failures.append("no item outcomes listed; the dialog shows: "
                            + driver.find_element(By.ID, "items-dialog").text)
        outcomes = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#items li .badge")]
        print("item outcomes shown: " + json.dumps(outcomes))
        if not outcomes:
            failures.append("a click on the task listed no item outcomes")
        save_screenshot(driver, args.screenshot.replace(".png", "-items.png"))

        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        for e in errors:
            failures.append("browser console: " + json.dumps(e))
    finally:
        driver.quit()
    for f in failures:
        print("FAILED: " + f)
    return 1 if failures else 0


def save_screenshot(driver, path):
    # The whole page, not only the phone's first screen.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": max(844, height), "deviceScaleFactor": 2, "mobile": True})
    driver.save_screenshot(path)
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
    print("screenshot: " + path)


if __name__ == "__main__":
    sys.exit(main())
