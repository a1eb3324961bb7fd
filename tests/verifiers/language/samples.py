"""Hand-written reasoning text in several languages, the test data of the language verifier.

Each language has sentences of the kind a model writes while thinking through a problem, and `WORDS` says how many
word units each sentence counts for under the verifier's rules (spaced scripts: whitespace words; Chinese and
Japanese: characters / 1.5), so the mixed-language tests know the true proportions.
"""

from __future__ import annotations

SENTENCES: dict[str, list[str]] = {
    "en": [
        "Let me start by reading the problem carefully and writing down what we know.",
        "The train leaves the station at noon and travels at a constant speed for three hours.",
        "Wait, I think I made a mistake in the previous step, so let me check the calculation again.",
        "If we add the two equations together, the unknown terms cancel out nicely.",
        "That means the answer should be the smaller of the two values we found.",
        "Before going further, it is worth asking whether the function is even defined there.",
        "So the total cost is the price of one notebook multiplied by the number of students.",
        "Hmm, this approach seems too complicated, maybe there is a simpler way to see it.",
    ],
    "zh": [
        "首先我们仔细阅读题目，把已知条件都写下来。",
        "火车中午从车站出发，以恒定的速度行驶了三个小时。",
        "等一下，我觉得上一步算错了，让我重新检查一下计算过程。",
        "如果把两个方程加在一起，未知的项就正好互相抵消了。",
        "这说明答案应该是我们求出的两个值中较小的那一个。",
        "在继续之前，我们应该先确认这个函数在那里是否有定义。",
        "所以总费用等于一本笔记本的价格乘以学生的人数。",
        "嗯，这个方法好像太复杂了，也许有更简单的思路。",
    ],
    "es": [
        "Primero voy a leer el problema con cuidado y anotar todo lo que sabemos.",
        "El tren sale de la estación al mediodía y viaja a velocidad constante durante tres horas.",
        "Espera, creo que me equivoqué en el paso anterior, así que voy a revisar el cálculo otra vez.",
        "Si sumamos las dos ecuaciones, los términos desconocidos se cancelan sin problema.",
        "Eso significa que la respuesta debería ser el menor de los dos valores que encontramos.",
        "Antes de seguir, conviene preguntarse si la función está definida en ese punto.",
        "Entonces el costo total es el precio de un cuaderno multiplicado por el número de alumnos.",
        "Mmm, este enfoque parece demasiado complicado, quizás haya una manera más sencilla de verlo.",
    ],
    "fr": [
        "Je commence par lire attentivement l'énoncé et par noter tout ce que nous savons.",
        "Le train quitte la gare à midi et roule à vitesse constante pendant trois heures.",
        "Attends, je crois que je me suis trompé à l'étape précédente, donc je vérifie le calcul.",
        "Si on additionne les deux équations, les termes inconnus s'annulent proprement.",
        "Cela veut dire que la réponse doit être la plus petite des deux valeurs trouvées.",
        "Avant d'aller plus loin, il faut se demander si la fonction est bien définie à cet endroit.",
        "Donc le coût total est le prix d'un cahier multiplié par le nombre d'élèves.",
        "Hum, cette méthode semble trop compliquée, il existe peut-être une façon plus simple de voir les choses.",
    ],
    "de": [
        "Zuerst lese ich die Aufgabe sorgfältig durch und schreibe auf, was wir wissen.",
        "Der Zug verlässt den Bahnhof um zwölf Uhr und fährt drei Stunden lang mit konstanter Geschwindigkeit.",
        "Moment, ich glaube, im vorigen Schritt habe ich mich verrechnet, also prüfe ich die Rechnung noch einmal.",
        "Wenn wir die beiden Gleichungen addieren, heben sich die unbekannten Terme gegenseitig auf.",
        "Das bedeutet, dass die Antwort der kleinere der beiden gefundenen Werte sein sollte.",
        "Bevor wir weitermachen, sollten wir fragen, ob die Funktion dort überhaupt definiert ist.",
        "Also sind die Gesamtkosten der Preis eines Heftes mal die Anzahl der Schüler.",
        "Hm, dieser Ansatz wirkt zu kompliziert, vielleicht gibt es einen einfacheren Weg.",
    ],
    "ru": [
        "Сначала я внимательно прочитаю условие задачи и запишу всё, что нам известно.",
        "Поезд отправляется со станции в полдень и три часа едет с постоянной скоростью.",
        "Подождите, кажется, я ошибся на предыдущем шаге, поэтому проверю вычисления ещё раз.",
        "Если сложить два уравнения, то неизвестные слагаемые взаимно уничтожаются.",
        "Это значит, что ответом должно быть меньшее из двух найденных значений.",
        "Прежде чем продолжать, стоит спросить себя, определена ли функция в этой точке.",
        "Значит, общая стоимость равна цене одной тетради, умноженной на число учеников.",
        "Хм, этот подход кажется слишком сложным, возможно, есть способ проще.",
    ],
    "ja": [
        "まず問題文をよく読んで、わかっていることを書き出してみます。",
        "電車は正午に駅を出発し、三時間のあいだ一定の速さで走ります。",
        "ちょっと待って、前のステップで計算を間違えた気がするので、もう一度確認します。",
        "二つの式を足し合わせると、未知の項がきれいに消えます。",
        "つまり、答えは求めた二つの値のうち小さいほうになるはずです。",
        "先に進む前に、その点で関数がそもそも定義されているかを確かめる必要があります。",
        "したがって、合計の費用はノート一冊の値段に生徒の人数を掛けたものです。",
        "うーん、このやり方は複雑すぎるので、もっと簡単な考え方があるかもしれません。",
    ],
    "ar": [
        "سأبدأ بقراءة المسألة بعناية وكتابة كل ما نعرفه.",
        "يغادر القطار المحطة عند الظهر ويسير بسرعة ثابتة لمدة ثلاث ساعات.",
        "انتظر، أعتقد أنني أخطأت في الخطوة السابقة، لذلك سأراجع الحساب مرة أخرى.",
        "إذا جمعنا المعادلتين معا فإن الحدود المجهولة تلغي بعضها بعضا.",
        "هذا يعني أن الإجابة يجب أن تكون القيمة الأصغر من القيمتين اللتين وجدناهما.",
        "قبل أن نكمل، علينا أن نتأكد من أن الدالة معرفة عند تلك النقطة.",
        "إذن التكلفة الكلية هي سعر الدفتر الواحد مضروبا في عدد الطلاب.",
        "هذه الطريقة تبدو معقدة جدا، وربما توجد طريقة أبسط للنظر إلى المسألة.",
    ],
    "ko": [
        "먼저 문제를 주의 깊게 읽고 우리가 알고 있는 것을 적어 보겠습니다.",
        "기차는 정오에 역을 출발해서 세 시간 동안 일정한 속도로 달립니다.",
        "잠깐, 이전 단계에서 계산을 잘못한 것 같으니 다시 확인해 보겠습니다.",
    ],
    "th": [
        "ก่อนอื่นเราต้องอ่านโจทย์อย่างละเอียดและเขียนสิ่งที่เรารู้ลงไป",
        "รถไฟออกจากสถานีตอนเที่ยงและวิ่งด้วยความเร็วคงที่เป็นเวลาสามชั่วโมง",
        "เดี๋ยวก่อน ฉันคิดว่าขั้นตอนที่แล้วคำนวณผิด ดังนั้นจะตรวจสอบอีกครั้ง",
    ],
}

# The eight languages the issue requires, each with at least several sentences.
REQUIRED = ("en", "zh", "es", "fr", "de", "ru", "ja", "ar")


def paragraph(lang: str, start: int = 0, count: int | None = None) -> str:
    """Sentences of `lang` joined as a paragraph, the way a model would write them."""
    sentences = SENTENCES[lang][start : None if count is None else start + count]
    sep = "" if lang in ("zh", "ja") else " "
    return sep.join(sentences)
