export const PROGRAM_NAME = 'hapos-upd';
