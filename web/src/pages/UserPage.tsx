// One person: who they are, and (for themself and admins) how they are reached.
import { useQuery } from 'urql';
import { UserQuery } from '../queries';
import { roleLabel } from '../access';
import { useDocumentTitle } from '../hooks';
import { errorText } from '../lib/errors';
import { Link } from '../router';
import { Alert, Loading } from '../components/ui';
import { NotificationSettings } from '../components/NotificationSettings';

export function UserPage({ id }: { id: string }) {
  const [{ data, fetching, error }] = useQuery({ query: UserQuery, variables: { id } });
  const user = data?.user;
  useDocumentTitle(user ? user.name : 'User');
  return (
    <>
      <p className="crumbs">
        <Link to="/users">← Users</Link>
      </p>
      <h1 tabIndex={-1}>{user ? user.name : 'User'}</h1>
      {error && <Alert messages={[errorText(error)]} />}
      {!data && fetching && <Loading what="the user" />}
      {data && !user && <p>No user with id {id}. They may have been deleted, or the link is wrong.</p>}
      {user && (
        <>
          <dl className="details">
            <dt>Email</dt>
            <dd>
              <a href={`mailto:${user.email}`}>{user.email}</a>
            </dd>
            {user.phone && (
              <>
                <dt>Phone</dt>
                <dd>
                  <a href={`tel:${user.phone}`}>{user.phone}</a>
                </dd>
              </>
            )}
            <dt>Role</dt>
            <dd>{roleLabel(user.role)}</dd>
            <dt>Can log in</dt>
            <dd>{user.hasPassword ? 'Yes' : 'No password'}</dd>
          </dl>
          <NotificationSettings userId={user.id} />
        </>
      )}
    </>
  );
}
