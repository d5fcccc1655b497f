// The official Node SDK (npm package `plivo`) driven against mpcmix through the flow of the
// Python SDK test (tests/server/test_sdk_operations.py). Prints one JSON object of what each call
// gave; tests/conformance/test_node_sdk.py checks it.
//
// plivo-node sends its Multiparty Call requests to hard-coded voice base URLs
// (https://api.plivo.com/v1/Account/...), ignoring a client's `url` option, so the redirect is
// done where every request passes: the adapter of the axios the SDK uses (docs/server.md).
'use strict';

const plivoDir = process.env.PLIVO_NODE_DIR;
const base = process.env.MPCMIX_URL;
const [authId, authToken, name, from, customer, agent] = process.argv.slice(2);

const axios = require(require.resolve('axios', { paths: [plivoDir] }));
const http = axios.getAdapter('http');
axios.defaults.adapter = (config) => {
  config.url = config.url.replace(/^https:\/\/api\.plivo\.com/, base);
  return http(config);
};
const plivo = require(plivoDir);

function plain(value) {
  return JSON.parse(JSON.stringify(value, (key, v) => (key === 'client' ? undefined : v)));
}

async function failure(promise) {
  try {
    await promise;
    return { raised: false };
  } catch (error) {
    return { raised: true, type: error.constructor.name, status: error.status,
             message: error.message, apiID: error.apiID };
  }
}

async function main() {
  const client = new plivo.Client(authId, authToken);
  const mpc = client.multiPartyCalls;
  const out = {};
  out.add = plain(await mpc.addParticipant('customer',
    { friendlyName: name, from, to: customer, stayAlone: true }));
  await mpc.addParticipant('agent', { friendlyName: name, from, to: agent });
  out.get = plain(await mpc.get({ friendlyName: name }));
  out.list = plain(await mpc.list({ friendlyName: name }));
  const listed = await mpc.listParticipants({ friendlyName: name });
  out.listParticipants = plain(listed);
  const ids = {};
  for (const p of listed.objects) ids[p.role] = p.memberId || p.member_id;
  out.getParticipant = plain(await mpc.getParticipant(ids.agent, { friendlyName: name }));
  out.update = plain(await mpc.updateParticipant(ids.customer,
    { friendlyName: name, mute: true, hold: true }));
  out.startRecording = plain(await mpc.startRecording({ friendlyName: name, fileFormat: 'wav' }));
  out.pauseRecording = plain(await mpc.pauseRecording({ friendlyName: name }));
  out.resumeRecording = plain(await mpc.resumeRecording({ friendlyName: name }));
  out.stopRecording = plain(await mpc.stopRecording({ friendlyName: name }));
  out.startParticipantRecording = plain(await mpc.startParticipantRecording(ids.agent,
    { friendlyName: name, fileFormat: 'mp3' }));
  out.stopParticipantRecording = plain(await mpc.stopParticipantRecording(ids.agent,
    { friendlyName: name }));
  out.play = plain(await mpc.startPlayAudio(ids.agent,
    'https://media.example.com/audio/announcement.wav', { friendlyName: name }));
  out.stopPlay = plain(await mpc.stopPlayAudio(ids.agent, { friendlyName: name }));
  out.kick = plain(await mpc.kickParticipant(ids.agent, { friendlyName: name }));
  out.notInitialized = await failure(mpc.start({ friendlyName: name, status: 'active' }));
  out.stop = plain(await mpc.stop({ friendlyName: name }));
  out.gone = await failure(mpc.get({ friendlyName: name }));

  out.ids = ids;
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error) + '\n');
  process.exit(1);
});
