"""The words of a compliance export in English, and in Chinese beside them for the Chinese frameworks (A2.4).

Item titles and requirements come from the framework files (`title_zh`, `requirement_zh`);
statuses, section headings, the badge legend and the reasons Assay writes are here: `translate`
turns a reason into Chinese by its known form (figures, names and titles kept); a reason of an
unknown form gets the Chinese phrase of its kind (`reason_zh`) and "see the English".
"""

from __future__ import annotations

import re
from typing import Any

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
ZH_NOTE = ("Chinese beside English; figures, names and titles inside the reasons stay as recorded.",
           "中英对照；理由中的数量、日期、姓名和标题保持原样。")


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


TERMS = {
    "cn_public_genai": "面向公众的生成式人工智能服务", "cn_deep_synthesis": "深度合成服务",
    "cn_opinion_mobilization": "具有舆论属性或社会动员能力的服务", "provider": "服务提供者", "deployer": "部署者",
    "platform": "传播平台", "app_store": "应用程序分发平台", "tech_supporter": "技术支持者", "user": "使用者",
    "text": "文本", "image": "图片", "audio": "音频", "video": "视频", "virtual_scene": "虚拟场景",
    "interactive_ui": "交互界面", "none": "无", "explicit": "显式标识", "metadata": "元数据隐式标识",
    "c2pa": "C2PA清单", "invisible": "数字水印", "no Chinese generative-AI tier": "不属于中国生成式人工智能规则的任何类别",
}
CONDITIONS_ZH = {
    "users can download or export generated content": "用户可下载、复制或导出生成内容",
    "the service can edit faces, voices or other biometric features (profile)": "服务可编辑人脸、人声等生物识别信息（档案）",
    "uses emotion recognition or biometric categorisation": "使用情绪识别或生物特征分类",
}


def _terms(text: str) -> str:
    return "、".join(TERMS.get(part.strip(), part.strip()) for part in re.split(r",| or ", text) if part.strip())


def _layers(summary: str) -> str:
    return re.sub(r"\b(explicit|metadata|c2pa|invisible)\b", lambda m: TERMS[m.group(1)], summary)


# (pattern on the English reason, Chinese template); groups keep the figures, names and titles.
_PATTERNS: list[tuple[re.Pattern, Any]] = [
    (r"not offered to the public in mainland China.*", "未面向中国境内公众提供（内部研发不适用，《生成式人工智能服务管理暂行办法》第二条）"),
    (r"applies to the (.+?) role; this system's role is (.+)",
     lambda m: f"适用于{_terms(m[1])}角色；本系统角色为{_terms(m[2])}"),
    (r"applies to (.+?) output; this system outputs (.+)", lambda m: f"适用于{_terms(m[1])}输出；本系统输出{_terms(m[2])}"),
    (r"applies to (.+?); this system is (.+)", lambda m: f"适用于{_terms(m[1])}；本系统属于{_terms(m[2])}"),
    (r"condition not met: (.+)", lambda m: f"适用条件不满足：{CONDITIONS_ZH.get(m[1], m[1])}"),
    (r"generative service \((.+?)\) offered to the public in mainland China(.*)",
     lambda m: f"面向中国境内公众提供的生成式服务（{_terms(m[1])}）" + _tail(m[2])),
    (r"deep synthesis of (.+?) for the public in mainland China(.*)",
     lambda m: f"面向中国境内公众的{_terms(m[1])}深度合成" + _tail(m[2])),
    (r"public generative-AI service: filing applies by default.*",
     "面向公众的生成式人工智能服务：档案未说明（并给出理由）该服务不具有舆论属性或社会动员能力，默认须履行备案"),
    (r"public-opinion attributes or social-mobilisation capacity.*", "具有舆论属性或社会动员能力（档案）"),
    (r"no evidence yet: a generative safety evaluation.*",
     "尚无证据：需要生成内容安全评估（GB/T 45654-2025）；表格类指标不能替代"),
    (r"no output samples of this system yet.*",
     "尚无本系统的输出样本：请添加系统自身的输出（API或manage.py evidence_sample）；在核验页面核验图片不构成证据"),
    (r"every layer \((.+?)\) shown in all (\d+) output samples(.*)",
     lambda m: f"全部{m[2]}个输出样本均显示所需标识（{_layers(m[1])}）" + _policy(m[3])),
    (r"encouraged \(鼓励\), not required: (\d+) output sample\(s\): (.+?) pass(.*)",
     lambda m: f"鼓励性要求，非强制：{m[1]}个输出样本中{_layers(m[2])}通过"),
    (r"(\d+) output sample\(s\): (.+?) pass(?:; e\.g\. sample #(\d+).*?)?(; the stamping policy.*)?$",
     lambda m: f"{m[1]}个输出样本中{_layers(m[2])}通过" + (f"；例如样本#{m[3]}未显示全部标识" if m[3] else "")
     + _policy(m[4] or "")),
    (r".*?: '(.+)' uploaded (\S+) is awaiting review.*",
     lambda m: f"文件“{m[1]}”（{m[2]}上传）待审核：须经上传者以外的审核人批准后方可作为证据"),
    (r".*?: '(.+)' uploaded (\S+) is rejected by (\S+).*", lambda m: f"文件“{m[1]}”（{m[2]}上传）已被{m[3]}驳回"),
    (r".*?: '(.+)' uploaded (\S+), approved by (\S+) on (\S+); sections missing.*?: (.+)",
     lambda m: f"文件“{m[1]}”已于{m[4]}由{m[3]}批准，但缺少必要章节：{m[5]}"),
    (r".*?: '(.+)' uploaded (\S+), approved by (\S+) on (\S+)(; all (\d+) required sections found)?",
     lambda m: f"文件“{m[1]}”已于{m[4]}由{m[3]}批准" + (f"，{m[6]}个必要章节齐全" if m[6] else "")),
    (r"no .+ uploaded for this system.*", "尚未上传本系统的该类文件"),
    (r"renew: the attestation by (\S+) of (\S+).*", lambda m: f"需重新声明：{m[1]}于{m[2]}作出的书面声明针对的是本条目的旧文本"),
    (r"attested by (\S+) on (\S+), valid until (\S+)(.*)",
     lambda m: f"{m[1]}已于{m[2]}作出书面声明，有效期至{m[3]}"),
    (r"the attestation by (\S+) expired on (\S+).*", lambda m: f"{m[1]}的书面声明已于{m[2]}过期，请重新声明"),
    (r"(?:needs an attestation|no metric in Assay's catalog).*", "需要书面声明"),
    (r"no event log of this system yet.*", "尚无本系统自身的事件日志（Assay自身的操作日志不能替代）"),
    (r"retention: the oldest event \((\S+)\) is (\d+) days old, the log must go back at least (\d+) days.*",
     lambda m: f"日志留存不足：最早事件为{m[1]}（{m[2]}天前），须至少留存{m[3]}天（六个月）"),
    (r"(\d+) events from (\S+) to (\S+): (.+)",
     lambda m: f"{m[1]}条事件（{m[2]}至{m[3]}）" + ("：字段齐全、无中断、留存达标" if "every event" in m[4]
                                                else "：存在缺失字段、中断或日志停止，详见英文")),
    (r"no stamping policy.*", "尚无标识策略"),
    (r"no moderation evaluation yet.*",
     "尚无内容审核评估（审核的精确率与召回率）：请用带标签的数据集评估审核策略（POST /api/v1/moderation/evaluations）"),
    (r"moderation policy '(.+)' v(\d+) was evaluated on (\d+) items but no flagged precision/recall could be computed",
     lambda m: f"审核策略“{m[1]}”第{m[2]}版已在{m[3]}条样本上评估，但无法计算拦截的精确率与召回率"),
    (r"moderation policy '(.+)' v(\d+) evaluated on (\d+) labelled items on (\S+): precision (\S+)"
     r"(?: \(95 % CI (\S+)–(\S+)\))?, recall (\S+)(?: \(95 % CI (\S+)–(\S+)\))?",
     lambda m: f"审核策略“{m[1]}”第{m[2]}版于{m[4]}在{m[3]}条标注样本上评估：精确率{m[5]}"
     + (f"（95%置信区间{m[6]}–{m[7]}）" if m[6] else "") + f"，召回率{m[8]}"
     + (f"（95%置信区间{m[9]}–{m[10]}）" if m[9] else "")),
    (r"generative safety evaluation (\d+) of (\S+) on (.+?): (.+?)(; the sample is smaller than the standard's "
     r"assessment sizes)?",
     lambda m: f"生成内容安全评估#{m[1]}（{m[2]}，评估对象：{m[3]}）：{_rates(m[4])}"
     + ("；样本量小于标准规定的评估规模" if m[5] else "")),
]

RATES_ZH = {"generated content pass": "生成内容合格率", "should refuse refusal": "应拒答题拒答率",
            "should not refuse refusal": "非拒答题拒答率"}
RATE_STATUS_ZH = {"pass": "通过", "fail": "未通过", "inconclusive": "无定论"}


def _rates(words: str) -> str:
    """'generated content pass 0.97 (n 400, pass); …' in Chinese, figures kept."""
    out = []
    for part in words.split("; "):
        m = re.fullmatch(r"(.+?) (\S+) \(n (\S+), (\w+)\)", part.strip())
        if not m:
            return words
        out.append(f"{RATES_ZH.get(m[1], m[1])}{m[2]}（样本数{m[3]}，{RATE_STATUS_ZH.get(m[4], m[4])}）")
    return "；".join(out)
_PATTERNS = [(re.compile(p, re.S), t) for p, t in _PATTERNS]


def _tail(rest: str) -> str:
    parts = [p.strip() for p in rest.split(";") if p.strip()]
    return "".join("；" + CONDITIONS_ZH.get(p, p) for p in parts)


def _policy(rest: str) -> str:
    return "；标识策略关闭了部分标识" if "policy" in rest else ""


def translate(reason: str) -> str:
    """Return the reason in Chinese where Assay knows its form (figures, names and titles kept), else ""."""
    text = (reason or "").strip()
    suffix = ""
    if "; attest the part Assay cannot see" in text:
        text, suffix = text.split("; attest the part Assay cannot see", 1)[0], "；Assay无法核查的部分需书面声明"
    for pattern, template in _PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return (template(match) if callable(template) else template) + suffix
    kind = reason_zh(text)
    return f"{kind}（详见英文）" if kind else ""
