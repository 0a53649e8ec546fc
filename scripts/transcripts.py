"""Conversations that show how the assistant handles the hard kinds of
message (issue 17's list), through the REST channel of a running stack:

    python -m scripts.transcripts --url http://127.0.0.1:5005 > docs/transcripts.md

Each case is a fresh person. The messages are written for this demonstration
(not taken from any test or training file)."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
import uuid

CASES: dict[str, list[tuple[str, str]]] = {
    "en": [
        ("long message with greetings", "Hi! My name is Daniel, we moved to Asker from Eritrea in August with "
         "our two girls. The older one is 7. How do we get her into a school here? Thank you so much!"),
        ("goodbye naming a topic", "ok great, I'll phone the dentist tomorrow then. that's all, bye!"),
        ("off-topic question", "Do you think it will snow in Oslo this weekend? We want to take the kids out."),
        ("question the base has no answer to", "Is my son allowed to bring his mobile phone to school, or will the teacher take it?"),
        ("I don't know", "I don't know"),
        ("smoke-alarm story", "The smoke alarm went off when I was frying onions and now the neighbour is "
         "angry with me. How do I stop it beeping?"),
        ("a real emergency", "my wife took all her sleeping pills and I cannot wake her up"),
    ],
    "nb": [
        ("long message with greetings", "Hei, jeg heter Amal og kom til Bærum for tre måneder siden. Vi har "
         "fortsatt ikke fått noen lege. Hvordan får jeg fastlege? Takk for hjelpen!"),
        ("goodbye naming a topic", "takk, da ringer jeg NAV i morgen. ha det!"),
        ("off-topic question", "Hvem vant fotballkampen i går kveld? Sønnen min snakker ikke om annet."),
        ("question the base has no answer to", "Kan jeg ha katt i leiligheten jeg leier?"),
        ("I don't know", "vet ikke"),
        ("smoke-alarm story", "Røykvarsleren pep da jeg stekte fisk, og utleier ble sint. Hva gjør jeg?"),
        ("a real emergency", "Eksmannen min står utenfor døra og sier han skal skade meg"),
    ],
    "so": [
        ("long message with greetings", "Salaan, magacaygu waa Faadumo. Waxaan imid Sarpsborg bishii hore "
         "anigoo wata saddex carruur ah. Sidee baan u helaa fastlege (dhakhtar qoys)? Mahadsanid!"),
        ("goodbye naming a topic", "mahadsanid, berri ayaan NAV wici doonaa. nabad gelyo"),
        ("off-topic question", "Cimilada berri Oslo sidee bay noqon doontaa?"),
        ("question the base has no answer to", "Wiilkayga ma u qaadan karaa taleefankiisa dugsiga, mise macallinka ayaa ka qaadanaya?"),
        ("I don't know", "ma garanayo"),
        ("smoke-alarm story", "Qalabka qiiqa ayaa dhawaaqay markii aan kalluun shiilayay, mulkiiluhuna wuu "
         "cadhooday. Maxaan sameeyaa?"),
        ("a real emergency", "Wiilkayga 4 jir ah waa la waayay 30 daqiiqo, wuxuu u dhowaa harada"),
    ],
}


def ask(url: str, sender: str, text: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(url.rstrip("/") + "/webhooks/rest/webhook", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"[]")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:5005")
    a = ap.parse_args()
    print("# Transcripts\n\nMade with `python -m scripts.transcripts` against a running stack.\n")
    for lang, cases in CASES.items():
        print(f"## {lang}\n")
        for title, text in cases:
            replies = ask(a.url, f"transcript-{uuid.uuid4().hex[:8]}", text)
            print(f"**{title}**\n\n> {text}\n")
            for reply in replies:
                if not reply.get("text") and not reply.get("buttons"):
                    continue  # a message for the chat page only (e.g. its privacy data), nothing to read
                buttons = " ".join(f"[{b['title']}]" for b in reply.get("buttons") or [])
                print(f"- {reply.get('text', '')}" + (f"  \n  {buttons}" if buttons else ""))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
