// The server's public API as the page uses it: the API key, and errors in the reader's words.

import { $ } from "./dom.js";
import { t } from "./i18n.js";

export const KEY = "legal-edge.api-key"; // sessionStorage: gone when the tab closes

export async function api(path, options) {
  const headers = Object.assign({}, (options && options.headers) || {});
  const key = sessionStorage.getItem(KEY);
  if (key) headers.Authorization = "Bearer " + key;
  if (options && options.body) headers["Content-Type"] = "application/json";
  return fetch(path, Object.assign({}, options, { headers }));
}

export async function errorText(res) {
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON */ }
  const err = (body && body.error) || {};
  return describeError(res.status, err, res.headers.get("Retry-After"));
}

export function describeError(status, err, retryAfter) {
  if (status === 401) return t("unauthorized");
  if (err.code === "context_length_exceeded") return t("contextTooLong");
  if (err.code === "model_not_ready") return t("modelLoading");
  if (err.code === "timeout" || status === 504) return t("timeout");
  if (err.code === "server_overloaded" || status === 503 || status === 429) {
    return t("queueFull", retryAfter ? t("seconds", retryAfter) : t("later"));
  }
  return t("failed", status, err.message || "");
}

export function askForKey(message) {
  const dialog = $("key-dialog");
  $("key-message").textContent = message || "";
  $("key-input").value = "";
  if (!dialog.open) dialog.showModal();
  $("key-input").focus();
}
