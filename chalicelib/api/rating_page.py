"""The customer's rating page: what the rating link opens on a phone (GET /public/ratings/{token}).

Served by the app as one self-contained HTML page (no CDN, no external script or style). The form posts JSON
to the same URL (the existing POST /public/ratings/{token}); every value placed in the page is escaped.
"""

from __future__ import annotations

import html

from chalicelib.domain.tickets import Ticket, TicketStatus

_STYLE = """
body{margin:0;font:16px/1.5 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif;
background:#f5f6f8;color:#222}
main{max-width:28rem;margin:0 auto;padding:1.25rem}
h1{font-size:1.25rem;margin:.5rem 0 1rem}
.card{background:#fff;border-radius:12px;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
fieldset{border:0;padding:0;margin:0 0 1rem;display:flex;flex-direction:row-reverse;justify-content:flex-end}
legend{margin-bottom:.5rem}
fieldset input{position:absolute;opacity:0}
fieldset label{font-size:2.25rem;color:#ccc;cursor:pointer;padding:0 .15rem}
fieldset input:checked~label,fieldset label:hover,fieldset label:hover~label{color:#f5a623}
fieldset input:focus-visible+label{outline:2px solid #1677ff}
textarea{width:100%;box-sizing:border-box;min-height:6rem;font:inherit;padding:.5rem;border:1px solid #ddd;
border-radius:8px}
button{margin-top:1rem;width:100%;padding:.75rem;font:inherit;color:#fff;background:#1677ff;border:0;
border-radius:8px}
button[disabled]{opacity:.6}
#status{margin-top:1rem;min-height:1.5rem}
"""

# Posts the form as JSON to the page's own URL, and shows the answer's message.
_SCRIPT = """
const form = document.getElementById("rating");
const status = document.getElementById("status");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  if (!data.get("score")) { status.textContent = "请选择评分 / Please choose a score"; return; }
  const body = {score: Number(data.get("score"))};
  const comment = (data.get("comment") || "").trim();
  if (comment) body.comment = comment;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const res = await fetch(form.action, {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(body)});
    const answer = await res.json();
    if (res.ok) { form.hidden = true; status.textContent = answer.thanks; return; }
    status.textContent = answer.message || ("error " + res.status);
  } catch (e) {
    status.textContent = "网络错误，请稍后再试 / Network error, please retry";
  }
  button.disabled = false;
});
"""

_SCORES = ((5, "非常满意"), (4, "满意"), (3, "一般"), (2, "不满意"), (1, "非常不满意"))


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><main><h1>{html.escape(title)}</h1><div class="card">{body}</div></main></body></html>'
    )


def rating_page(ticket: Ticket) -> str:
    """The form for a closed, unrated ticket; otherwise a message saying why there is none. The form has no
    action: it posts to the page's own URL, whatever prefix (API Gateway stage) that URL has."""
    title = "服务评价"
    subject = f"<p>工单 {html.escape(ticket.id)}</p>"
    if ticket.rating is not None:
        return _page(title, subject + "<p>您已评价过此工单，感谢您的反馈。</p>")
    if ticket.status is not TicketStatus.CLOSED:
        return _page(title, subject + "<p>工单完成后即可评价。</p>")
    stars = "".join(
        f'<input type="radio" id="s{n}" name="score" value="{n}" required>'
        f'<label for="s{n}" title="{html.escape(text)}" aria-label="{n} 分 {html.escape(text)}">★</label>'
        for n, text in _SCORES
    )
    form = (
        '<form id="rating" method="post">'
        f"<fieldset><legend>您对本次服务满意吗？</legend>{stars}</fieldset>"
        '<label for="comment">意见或建议（选填）</label>'
        '<textarea id="comment" name="comment" maxlength="1000"></textarea>'
        '<button type="submit">提交评价</button></form><p id="status" role="status"></p>'
        f"<script>{_SCRIPT}</script>"  # a constant: nothing from the request or the ticket in it
    )
    return _page(title, subject + form)


def invalid_link_page() -> str:
    return _page("服务评价", "<p>评价链接无效或已过期。</p>")
