//! Frequent function words of the Latin-script languages the built-in
//! detector names: the common-word prior of its Latin scorer.
//!
//! Written by hand from general knowledge of each language's most frequent
//! words (articles, prepositions, conjunctions, pronouns, auxiliaries); not
//! counted from, nor tuned on, the benchmark's text. A word listed under
//! several languages counts for each of them with weight 1/k.

/// (whatlang code, words separated by spaces), lowercase.
pub(super) const WORDS: &[(&str, &str)] = &[
    (
        "eng",
        "the of and to in is that for it was on with as he be by at are this his not from or had but have an they which you \
         were her she there been one all we their has would when if so no what can more out who will its them about up into \
         than do could our my me him only other also your these then some cannot how should just because any after over such \
         very get like where here why those does did said each most make many well way through being both between while \
         before must may now us am i a don doesn didn isn wasn aren haven won let \
         people time year years new first last good great best little know see use used work world life day back down even still own week today home page read click free please email online contact privacy policy help search news blog posted comments reply share follow login sign account order shipping price buy product products service services information ve ll whom whose yes got made take found find think thing things want need look going really right much every same another around without within against during under until upon though although however therefore since became become born known called named including later early several three two four five second third old young long high small large city country school government history war team season game film album song band book story family house man men woman women children child father mother name place part number end area company group system water food money business market health support available enter address below above added cart open days thanks thank love comment apply terms conditions full article \
         t according asked told says went came took gave began became although whether against among throughout following until",
    ),
    (
        "deu",
        "der die und in den von zu das mit sich des auf für ist im dem nicht ein eine als auch es an werden aus er hat dass daß \
         sie nach wird bei einer um am sind noch wie einem über einen so zum war haben nur oder aber vor zur bis mehr durch man \
         sein wurde sei ich wir ihr wenn kann können uns unsere unser diese dieser dieses was hier sehr schon bitte ihre ihren \
         keine kein gibt mich mir dich dir du ihnen jetzt sowie dann damit also wieder immer \
         beim vom ins gegen ohne unter zwischen während seit weitere neue neuen jahr jahre jahren heute allen viele ganz gut zeit welche welcher deren dessen seine seiner seinen ihrer ihrem euch dafür dazu darauf davon dabei daher jedoch sondern weil ob doch etwa bereits hatte hatten waren wäre würde wurden worden sollte müssen muss soll wollen möchten geht macht kommt steht sagt einfach wichtig informationen startseite suche weiter zurück datenschutz impressum uhr seite nichts etwas jeder jede jedes andere anderen zwei drei dort zwar eines einige selbst beiden neben lassen",
    ),
    (
        "fra",
    "de la le et les des en un du une que est pour qui dans a par plus pas au sur ne se ce il sont avec ou mais elle nous \
     vous ils aux son sa ses été être cette comme tout leur même très y on je aussi ont fait peut entre avez votre vos \
     notre nos c l d qu n j lui sans deux ces dont où tous après bien encore donc ici \
     avoir faire sous depuis pendant contre chez vers selon avant toujours jamais rien chaque autre autres plusieurs quelques beaucoup trop peu toutes toute celui celle ceux cela ça ceci lequel laquelle était étaient sera serait avait avons êtes sommes suis fut peuvent doit faut ans année jour jours temps monde vie nouveau nouvelle premier première grand grande petit petite voir savoir dire mois aujourd hui là oui merci accueil recherche lire suite",
    ),
    (
        "spa",
        "de la que el en y a los se del las un por con no una su para es al lo como más o pero sus le ha me si sin sobre este \
         ya entre cuando todo esta ser son dos también fue había era muy años hasta desde está mi porque qué sólo solo han \
         yo hay vez puede todos así nos ni tiene él uno donde bien ese ahora cada e otro después te otros aunque esa eso hace \
         otra tan durante siempre ella sí sido estos estas usted \
         tras mientras además estar tener hacer pueden debe fueron eran será estaba tienen tenía día días veces toda todas otras misma nueva mejor forma caso vida mundo país gobierno ellos ellas nosotros ustedes aquí nunca nada algo alguien poco mucho mucha muchos muchas gracias inicio buscar contacto",
    ),
    (
        "por",
        "de a o que e do da em um para é com não uma os no se na por mais as dos como mas foi ao ele das tem à seu sua ou ser \
         quando muito há nos já está eu também só pelo pela até isso ela entre era depois sem mesmo aos ter seus quem nas me \
         esse eles estão você tinha foram essa num nem suas meu às minha têm numa pelos elas havia seja qual será nós tenho \
         lhe deles pelas este dele são ainda sobre pode bem aqui onde então assim todos porque apenas fazer cada \
         muita muitos muitas antes sempre nunca agora hoje ano dia dias vezes tudo todas toda outro outra outros outras mesma novo nova grande melhor parte forma vida mundo país governo estar podem deve eram estava faz vocês isto aquilo esta aquele aquela obrigado obrigada início contato página nesta neste nessa nesse desta deste dessa desse lhes nosso nossa",
    ),
    (
        "ita",
        "di e il la che a per in un è del non i della le si da una con al lo come ma dei alla più nel sono gli anche ha o se \
         delle questo nella ci mi ne cui su era essere tra dal sua suo hanno degli quando molto ancora tutto loro fatto questa \
         solo dopo stato già perché così sia ad ed uno quello noi io sul dalla ai alle nei negli dell all nell sull c l po può \
         tutti fare ogni qui dove anni vi ti ho \
         questi queste quella quelli siamo sei erano sarà stata stati avere possono devono tutte tutta altro altri altra altre nuovo nuova primo prima sempre mai oggi anno giorno giorni tempo vita mondo parte casa quindi però invece mentre senza sotto sopra verso presso durante grazie dello nelle sulla sulle dagli agli cosa chi quale quali pagina",
    ),
    (
        "nld",
        "de en van het een in is dat op te zijn met voor niet aan er die ook als bij om maar dan of was wordt door nog naar \
         uit over tot ze je wij we ik hij zij hun heeft hebben kan worden deze dit meer al geen wat zo nu moet wel veel onze \
         ons uw jullie werd waren kunnen zou alle andere tussen na u mijn hoe waar omdat echter toch zich daar hier wie heel \
         altijd gaat tegen \
         zeer erg werden had hadden kon konden zal zullen zouden moeten mag mogen wil willen gaan komt komen maakt maken jaar jaren dag dagen tijd nieuwe nieuw eerste grote groot goed goede elke iedere welke waarin waarop waarvan daarom daarna daarbij dus want tijdens zonder onder boven achter sinds vanaf via jij jou jouw hem haar hen mij toen ja nee bedankt zoeken lees verder bekijk gratis prijs winkelwagen bestellen",
    ),
    (
        "pol",
        "i w na z się nie do to że jest o a jak po co ale od za tak przez dla są jego przy tym jej czy już może być by który \
         która które którzy tylko ze był była było jako lub oraz ich go mi ma mnie tego też także jednak bardzo pod nad we \
         więc tu kiedy gdy aby sobie te ten ta tej jeszcze jeśli można będzie bez przed między wszystko \
         byli były będą mogą trzeba należy został została zostało zostały mają miał miała roku lat lata dzień dni czas życie świat polska polski polskiej nowy nowa nowe pierwszy dobry również zawsze nigdy teraz dziś dzisiaj tutaj tam gdzie dlaczego ponieważ czyli albo ani żeby jeżeli której którym których temu tych tymi tę tą ci nas nam wam ciebie siebie wszystkie wszystkich każdy każda inne innych u",
    ),
    (
        "swe",
        "och i att det som en på är av för med till den har de inte om ett han men var jag sig från vi så kan man när år säger \
         hon under också efter eller nu sin där vid mot ska skall vara detta blir mycket bara hade finns alla andra då inom \
         dem oss sina sitt sedan hur vad vill kommer blev ut upp här",
    ),
    (
        "dan",
        "og i at det er en til på som de med for af den ikke der har et han var jeg men om fra vi så kan sig hun eller efter \
         også nu ved skal være blev havde når mange meget dig du mig hvad hvor hvis os jer deres dem denne dette disse kun \
         alle andre år noget her sammen mod vil hans hende bliver kunne ville ud op ingen selv mellem",
    ),
    (
        "nob",
        "og i det er på som en til å av for med at de ikke den har et om han var jeg men fra vi så kan seg hun eller etter \
         også nå ved skal være ble hadde når mange mye deg du meg hva hvor hvis oss dere deres dem denne dette disse bare \
         alle andre år noe her sammen mot vil hans henne blir kunne ville ut opp ingen selv mellom sine sitt sin",
    ),
    (
        "fin",
        "ja on ei se että oli hän mutta kun ovat myös sen kuin jo tai ole mitä niin vain nyt voi joka jotka sitä tämä tässä \
         siitä ollut olla hänen minä sinä me te he jos koska kanssa mukaan sekä vielä yli noin paljon aina kaikki joten eli \
         enemmän vuoden vuonna eikä siis sitten kuitenkin minun",
    ),
    (
        "ces",
        "a se na v je že to s z do o k i jako pro ale by jsou který která které jeho jak po tak za od jsem jsme není už bylo \
         byl byla být také nebo ve ze při jen jejich podle mezi kde když proto však tím této tento toto tato bude může než \
         ještě velmi všechny pouze před nad pod mi mě si co tu ty své svůj",
    ),
    (
        "slk",
        "a sa na v je že to s z do o k i ako pre ale by sú ktorý ktorá ktoré jeho po tak za od som sme nie už bolo bol bola \
         byť tiež alebo vo zo pri len ich podľa medzi kde keď preto však tým tejto tento toto táto bude môže než ešte veľmi \
         všetky iba pred nad pod mi ma si čo tu ty svoje aj ktorí či",
    ),
    (
        "ron",
        "de și în a la cu din care pe nu o un să se mai pentru este ca sau au al ce lui sunt fost după prin acest această fi \
         până ei lor dar iar cum când dacă între despre foarte doar atât unei unui sa ale cel cea fiind poate acum aici avea \
         există astfel",
    ),
    (
        "hun",
        "a az és hogy nem is egy meg de van volt ez csak már még mint el ki be fel le vagy azt ha kell lesz után szerint \
         között minden most pedig amely amelyek aki akik mert így úgy sem nagyon ezt ezek azok nincs lehet vannak való által \
         során alatt egyik két sok ami mit",
    ),
    (
        "tur",
        "bir ve bu da de için ile çok ne daha o gibi olarak en ama kadar sonra var olan her değil ben sen biz siz onlar mi mı \
         mu mü ki diye ise veya ya yok şey nasıl neden göre önce ancak bunu bunun şu olduğu olduğunu oldu tüm yeni iki büyük \
         kendi aynı",
    ),
    (
        "ind",
        "yang dan di ini itu dengan untuk tidak dari dalam akan pada juga ke ada saya bisa oleh mereka kita kami anda sudah \
         telah atau karena tersebut lebih seperti hanya harus bahwa belum masih dapat jika kalau namun tetapi sangat banyak \
         semua saat bagi para agar sebagai hal apa adalah ia dia setelah sebuah",
    ),
    (
        "cat",
    "de la i el que a en del les per un una amb els es no al com més o se ha va hi ho dels són però seu seva aquest \
     aquesta també molt tot era fer pot ja quan entre sobre fins sense perquè això així on han ser nostre nostra tots totes \
     d l n",
    ),
    (
        "hrv",
        "i je u na se da za su od a s o koji koja koje iz to kao će ali što sa bi ne biti do po ili te samo još smo sam nije \
         bio bila bilo ga mu ih kako jer kad kada već ovaj ova ovo godine prema nakon među tako može treba vrlo sve svi njegov",
    ),
    (
        "slv",
        "in je v na se da za so od z s o ki iz to kot bo pa tudi ne bi biti do po ali le še smo sem ni bil bila bilo ga mu \
         jih kako ker ko kadar že ta lahko zelo vse vsi njegov tem med pri če sta ter več kar kaj",
    ),
    (
        "lit",
        "ir yra kad su į o bet iš kaip jo tai buvo ar nuo per už apie dėl po prie jis ji jie mes jūs aš tu kuris kuri kurie \
         taip ne nėra bus būti tik dar jau labai kai nes todėl tačiau metų savo šis ši tas ta",
    ),
    (
        "lav",
        "un ir ar par no uz ka kas bet arī vai to tā tas bija būs nav lai jo kā pēc līdz pie starp tikai vēl jau ļoti viņš \
         viņa viņi mēs jūs es tu kur kad savu savas šo šī šis gada tomēr",
    ),
    (
        "est",
        "ja on ei et see oli ka kui ta mis aga või nii siis ning mida kes seda selle oma veel juba pole olla olid kõik nagu \
         ainult väga üle pärast enne vahel tema nad meie teie mina sina ma sa me te nemad aasta kuid sest",
    ),
    (
        "vie",
        "và của là có không được trong cho các một những với người đã này để khi đến từ ra như cũng về thì nhưng sẽ đó năm \
         theo sau bị tại nhiều nên hay hơn vào rất lại làm đi còn mà nào gì chúng tôi họ",
    ),
    (
        "tgl",
        "ang ng sa na at mga ay ito si ni hindi para may kung ako ka siya kanila niya nila din rin lang pa ba nang kay dahil \
         pero ko mo kami tayo sila ikaw iyon iyan dito doon lahat isang mas po naman ano",
    ),
    (
        "afr",
        "die en van in is het dat nie te op vir met word wat om sy hy aan as by ook was maar sal kan hulle ons jy ek uit deur \
         na tot oor een nog al moet daar hier dit hierdie baie meer geen wees sou gaan kom toe wanneer omdat want",
    ),
    (
        "lat",
        "et in est non ad cum quod ut qui quae sed de a ab ex e per si enim esse sunt se hoc quam nec autem atque ac vel iam \
         tamen etiam eius eum ea id illa ille inter post ante sub super nos vos ego tu eo sic nunc tum ubi",
    ),
    (
        "epo",
        "la kaj de en estas al ne por kun ke el mi li ŝi ni vi ili sed ĉu tiu kio kiu kiel pli ankaŭ nur da sur post antaŭ \
         inter sen pro tre jam ĉiu ĉiuj unu iu havas estis estos esti povas oni",
    ),
];
