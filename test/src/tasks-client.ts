/** A grpc-js client of containerd.services.tasks.v1.Tasks for system tests. */
import * as grpc from '@grpc/grpc-js';
import { TASKS_PROTO, loadGrpcPackage } from '@flotilla/protos';

/** One call's outcome: the status code (0 = OK), its details, and the response when OK. */
export interface TaskCallResult {
  code: number;
  details: string;
  value?: any;
}

/** A Tasks client on `address` whose calls (in `namespace` unless given) resolve, never throw. */
export function tasksClient(address: string, namespace: string) {
  const pkg = grpc.loadPackageDefinition(loadGrpcPackage([TASKS_PROTO])) as any;
  const client = new pkg.containerd.services.tasks.v1.Tasks(`unix:${address}`, grpc.credentials.createInsecure());
  const call = (method: string, req: object, ns = namespace) =>
    new Promise<TaskCallResult>((resolve) => {
      const md = new grpc.Metadata();
      md.set('containerd-namespace', ns);
      client[method](req, md, { deadline: Date.now() + 20_000 }, (err: grpc.ServiceError | null, value: any) =>
        resolve(err ? { code: err.code, details: err.details } : { code: 0, details: '', value }),
      );
    });
  return { call, close: () => client.close() };
}
