// The microphone's samples, block by block, from the audio thread to the page (console.js).
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const input = inputs[0];
    if (input && input[0] && input[0].length) this.port.postMessage(input[0].slice(0));
    return true;
  }
}
registerProcessor('mpcmix-capture', Capture);
