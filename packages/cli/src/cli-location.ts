/** Where the running CLI's entry module is (bin sets it): the bundle's own files lie beside it. */
export const cliLocation = { url: '' };
