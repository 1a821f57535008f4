"use strict";
// Every string livegate's pages show, by language, in one place: a translation is one
// more table. A string missing from a table falls back to English. Right-to-left
// languages turn the page around (dir="rtl"); layouts use logical properties so that
// nothing breaks.
const LIVEGATE_STRINGS = {
  en: {
    "catalog.title": "Live streams",
    "catalog.live": "Live now",
    "catalog.upcoming": "Coming up",
    "catalog.empty": "Nothing here yet.",
    "catalog.by": "by {creator}",
    "access.free": "Free",
    "access.ticket": "Ticket",
    "access.subscribers": "Subscribers",
    "price.notForSale": "Not available in your country",
    "watch.connecting": "Connecting…",
    "watch.live": "Live",
    "watch.preview": "Preview: {seconds} s left",
    "watch.buy": "Buy",
    "watch.watchFor": "Watch for {price}",
    "watch.ended": "Ended: {reason}",
    "watch.reconnecting": "Reconnecting",
    "watch.tryingAgain": "{message} — trying again in {seconds} s",
    "watch.noNode": "No node of the service answers",
    "watch.waiting": "Waiting for the stream",
    "watch.counts": "{viewers} watching · {collects} collects",
    "studio.title": "Studio",
    "studio.signIn": "Sign in with your creator token (in development: /dev/login with your creator id).",
    "studio.newStream": "New stream",
    "studio.streamTitle": "Title",
    "studio.access": "Access",
    "studio.price": "Price (minor units, e.g. 4900)",
    "studio.currency": "Currency",
    "studio.preview": "Free preview (seconds)",
    "studio.create": "Create",
    "studio.camera": "Camera",
    "studio.microphone": "Microphone",
    "studio.goLive": "Go live",
    "studio.end": "End stream",
    "studio.state.idle": "Not live",
    "studio.state.connecting": "Connecting…",
    "studio.state.live": "Live",
    "studio.state.reconnecting": "Reconnecting…",
    "studio.state.ended": "Ended",
    "studio.streams": "Your streams",
    "studio.earnings": "Earnings",
    "studio.month": "Month",
    "studio.country": "Country",
    "studio.net": "Net",
    "studio.connect": "Set up payouts (Stripe Connect)",
  },
  fr: {
    "catalog.title": "Directs",
    "catalog.live": "En direct",
    "catalog.upcoming": "À venir",
    "catalog.empty": "Rien pour le moment.",
    "catalog.by": "par {creator}",
    "access.free": "Gratuit",
    "access.ticket": "Billet",
    "access.subscribers": "Abonnés",
    "price.notForSale": "Non disponible dans votre pays",
    "watch.connecting": "Connexion…",
    "watch.live": "En direct",
    "watch.preview": "Aperçu : encore {seconds} s",
    "watch.buy": "Acheter",
    "watch.watchFor": "Regarder pour {price}",
    "watch.ended": "Terminé : {reason}",
    "watch.reconnecting": "Reconnexion",
    "watch.tryingAgain": "{message} — nouvel essai dans {seconds} s",
    "watch.noNode": "Aucun serveur ne répond",
    "watch.waiting": "En attente du direct",
    "watch.counts": "{viewers} spectateurs · {collects} collections",
    "studio.title": "Studio",
    "studio.newStream": "Nouveau direct",
    "studio.streamTitle": "Titre",
    "studio.create": "Créer",
    "studio.goLive": "Passer en direct",
    "studio.end": "Terminer",
    "studio.state.live": "En direct",
    "studio.earnings": "Revenus",
  },
  ar: {
    "catalog.title": "البث المباشر",
    "catalog.live": "مباشر الآن",
    "catalog.upcoming": "قريبًا",
    "catalog.empty": "لا شيء بعد.",
    "catalog.by": "من {creator}",
    "access.free": "مجاني",
    "access.ticket": "تذكرة",
    "access.subscribers": "للمشتركين",
    "price.notForSale": "غير متاح في بلدك",
    "watch.connecting": "جارٍ الاتصال…",
    "watch.live": "مباشر",
    "watch.preview": "معاينة: متبقٍ {seconds} ث",
    "watch.buy": "شراء",
    "watch.watchFor": "شاهد مقابل {price}",
    "watch.ended": "انتهى: {reason}",
    "watch.reconnecting": "إعادة الاتصال",
    "watch.tryingAgain": "{message} — إعادة المحاولة بعد {seconds} ث",
    "watch.noNode": "لا يستجيب أي خادم",
    "watch.waiting": "في انتظار البث",
    "watch.counts": "{viewers} يشاهدون · {collects} مجموعات",
    "studio.title": "الاستوديو",
    "studio.newStream": "بث جديد",
    "studio.streamTitle": "العنوان",
    "studio.create": "إنشاء",
    "studio.goLive": "ابدأ البث",
    "studio.end": "إنهاء البث",
    "studio.state.live": "مباشر",
    "studio.earnings": "الأرباح",
  },
};
const LIVEGATE_RTL = ["ar"];

function livegateLang() {
  const asked = new URLSearchParams(location.search).get("lang") || navigator.language || "en";
  const l = asked.slice(0, 2).toLowerCase();
  return LIVEGATE_STRINGS[l] ? l : "en";
}

// t is the string key in the page's language, with {name} filled from vars.
function t(key, vars) {
  const s = (LIVEGATE_STRINGS[livegateLang()] || {})[key] ?? LIVEGATE_STRINGS.en[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (vars && k in vars ? String(vars[k]) : ""));
}

// applyLang sets the page's language and direction and fills every data-i18n element.
function applyLang() {
  const l = livegateLang();
  document.documentElement.lang = l;
  document.documentElement.dir = LIVEGATE_RTL.includes(l) ? "rtl" : "ltr";
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
}
