// seek-bzip ships no types; the tests use only decode().
declare module 'seek-bzip' {
  const Bunzip: { decode(input: Uint8Array): Uint8Array };
  export default Bunzip;
}
