const response = await fetch("/api/hello?name=visitor");
const { message } = await response.json();
document.getElementById("greeting").textContent = message;
