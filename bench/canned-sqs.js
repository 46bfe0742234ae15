// bench/canned-sqs.js PORTFILE DELAY_MS - a canned SQS (JSON protocol) for
// bench/sqs.sh: every ReceiveMessage gets 10 fresh messages, every
// DeleteMessageBatch succeeds, each after DELAY_MS, as a distant region
// would.  It measures the client, so it does as little as it can.
'use strict';
const http = require('http');
const crypto = require('crypto');
const fs = require('fs');

const [portfile, delay] = [process.argv[2], Number(process.argv[3] || 20)];
const body = '{"user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae", "app_version": "2.3.0", ' +
    '"device_type": "android", "ip": "199.172.111.135", "locale": "RU", "device_id": "593-47-5928"}';
const md5 = crypto.createHash('md5').update(body).digest('hex');
let next = 0;

function receive() {
	const msgs = [];
	for (let i = 0; i < 10; i++, next++)
		msgs.push({ MessageId: 'm-' + next, ReceiptHandle: 'rh-' + next, MD5OfBody: md5, Body: body,
		    Attributes: { SentTimestamp: String(1700000000000 + next), ApproximateReceiveCount: '1' } });
	return { Messages: msgs };
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		const target = req.headers['x-amz-target'] || '';
		let answer = {};
		if (target.endsWith('ReceiveMessage'))
			answer = receive();
		else if (target.endsWith('DeleteMessageBatch'))
			answer = { Successful: JSON.parse(Buffer.concat(chunks)).Entries.map((e) => ({ Id: e.Id })), Failed: [] };
		const text = JSON.stringify(answer);
		setTimeout(() => {
			res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': Buffer.byteLength(text) });
			res.end(text);
		}, delay);
	});
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => {
	fs.writeFileSync(portfile + '.tmp', String(server.address().port));
	fs.renameSync(portfile + '.tmp', portfile);
});
