"""Notification providers, one per channel, each an httpx adapter behind `base.Provider`:

- wecom.py   WeCom app message (`message/send`) to staff, through the existing WeComClient's token cache;
- wechat.py  WeChat official-account template message (`cgi-bin/message/template/send`), stable token;
- sms.py     Aliyun SMS `SendSms` (dysmsapi 2017-05-25);
- voice.py   Aliyun VMS `SingleCallByTts` (dyvmsapi 2017-05-25);
- aliyun.py  the Alibaba Cloud RPC signature (HMAC-SHA1) both Aliyun adapters share;
- queue.py   the SQS adapter of the notify queue (per-message DelaySeconds).

Nothing here calls out at import time; every request has a timeout."""
