// The CLI's sizes are the ones the web page prints too: the formatting lives in @vdisk/view.
export { formatG3, humanSize } from '@vdisk/view';
