"""The words of a compliance export in English, and in Chinese beside them for the Chinese frameworks (A2.4).

Item titles and requirements come from the framework files (`title_zh`, `requirement_zh`);
statuses, section headings, the badge legend and the reason phrases Assay writes are here. A
reason Assay composes (counts, dates, names) keeps its English text, preceded by the Chinese
phrase of its kind (see `reason_zh`).
"""

from __future__ import annotations

STATUS = {
    "met": ("met", "符合"),
    "partially_met": ("partially met", "部分符合"),
    "not_met": ("not met", "不符合"),
    "needs_attestation": ("needs attestation", "需要书面声明"),
    "no_evidence": ("no evidence yet", "尚无证据"),
    "not_applicable": ("not applicable", "不适用"),
}

SECTIONS = {
    "in_force": ("In force on {date}", "{date}已适用"),
    "later": ("Applies later (not yet in force on {date})", "日后适用（{date}尚未适用）"),
    "not_applicable": ("Not applicable to this system", "不适用于本系统"),
}

# The verification badge describes the source of the rule, never the system's status.
VERIFICATION = {
    "verified": ("rule verified", "规则已核对原文",
                 "the rule was checked against the primary legal text or a verbatim quotation of it"),
    "secondary": ("rule from secondary source", "规则来自二手资料",
                  "the rule was taken from a faithful secondary source (law firm, regulator press release)"),
    "unverified": ("rule unverified", "规则未经核实",
                   "the reading of the law is unverified (sources conflict or were not read): check it before relying on it"),
}
LEGEND_TITLE = ("What the badges mean", "标记说明")
LEGEND_NOTE = ("The badge describes the source of the rule, not this system's compliance; the status column "
               "is the result.", "标记说明的是规则的来源，而不是本系统的合规情况；合规结论见“状态”一栏。")

HEADERS = {
    "item": ("Item", "条目"), "article": ("Article", "条款"), "title": ("Title", "标题"),
    "rule": ("Rule source", "规则来源"), "status": ("Status", "状态"), "applies_from": ("Applies from", "适用日期"),
    "why": ("Why", "理由"), "evidence": ("Evidence", "证据"),
}

DATE_BASIS = {"interpretation": ("date by interpretation", "日期系解释性推定")}

EVIDENCE_KINDS = {
    "output_sample": ("output sample", "输出样本"), "document": ("document", "文件"),
    "attestation": ("attestation", "书面声明"), "audit": ("audit", "审计"),
    "system_event_log": ("system event log", "系统事件日志"), "watermark_policy": ("stamping policy", "标识策略"),
    "audit_log": ("Assay audit log", "审计日志"),
}
LAYERS = {"explicit": ("explicit label", "显式标识"), "metadata": ("metadata label", "元数据隐式标识"),
          "c2pa": ("C2PA manifest", "C2PA清单"), "invisible": ("invisible watermark", "数字水印")}

REASON_PREFIXES = [
    ("no evidence yet: a generative safety evaluation", "尚无证据：需要生成内容安全评估"),
    ("no event log of this system yet", "尚无本系统的事件日志"),
    ("retention:", "日志留存不足："),
    ("no output samples of this system yet", "尚无本系统的输出样本"),
    ("every layer", "所有样本均显示全部标识"),
    ("encouraged", "鼓励性要求，非强制"),
    ("renew:", "条目文本已变更，需重新声明："),
    ("needs an attestation", "需要书面声明"),
    ("attested by", "已书面声明"),
    ("not offered to the public in mainland China", "未面向中国境内公众提供"),
    ("applies to", "适用范围不包括本系统"),
    ("condition not met", "适用条件不满足"),
]
REASON_CONTAINS = [
    ("awaiting review", "文件待审核（须由上传者以外的审核人批准）"),
    ("sections missing", "文件已批准，但缺少必要章节"),
    ("approved by", "文件已由审核人批准"),
    ("output sample(s)", "输出样本核验结果"),
    ("events from", "系统事件日志"),
    ("no ", "尚无证据"),
]
ZH_NOTE = ("Chinese beside English; reasons composed by Assay (counts, dates, names) are in English after their "
           "Chinese kind.", "中英对照；系统生成的具体理由（数量、日期、姓名）以英文给出，前附中文类别。")


def reason_zh(reason: str) -> str:
    """Return the Chinese phrase for the kind of an English reason, or ""."""
    text = (reason or "").strip()
    for prefix, zh in REASON_PREFIXES:
        if text.startswith(prefix):
            return zh
    for part, zh in REASON_CONTAINS:
        if part in text:
            return zh
    return ""
